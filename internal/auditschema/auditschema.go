// Package auditschema validates serialized audit events against the JSON
// Schema in package audit, for tests.
package auditschema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/iamgate/iamgate/audit"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	once   sync.Once
	schema *jsonschema.Schema
	err    error
)

func compiled() (*jsonschema.Schema, error) {
	once.Do(func() {
		var doc any
		if err = json.Unmarshal(audit.Schema, &doc); err != nil {
			err = fmt.Errorf("auditschema: parse schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		c.AssertContent()
		const url = "mem://event.schema.json"
		if err = c.AddResource(url, doc); err != nil {
			return
		}
		schema, err = c.Compile(url)
	})
	return schema, err
}

// Line validates one serialized event.
func Line(line []byte) error {
	s, err := compiled()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s: %v", line, err)
	}
	return nil
}

// File validates every line of an audit file and returns the number of
// events per kind.
func File(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kinds := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := Line(sc.Bytes()); err != nil {
			return kinds, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		var k struct {
			Iamgate struct{ Kind string } `json:"iamgate"`
		}
		json.Unmarshal(sc.Bytes(), &k)
		kinds[k.Iamgate.Kind]++
	}
	return kinds, sc.Err()
}
