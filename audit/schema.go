package audit

import _ "embed"

// Schema is the JSON Schema (draft 2020-12) of a serialized Event, as
// `iamgate audit schema` prints it.
//
//go:embed event.schema.json
var Schema []byte
