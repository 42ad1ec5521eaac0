// Package minioimport reads what MinIO exports about its identities (the
// IAM export of `mc admin cluster iam export` and the identity_openid and
// identity_ldap settings of `mc admin config get`) and turns it into an
// iamgate configuration, with a report of what could not be carried over.
package minioimport

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The files of an IAM export, as MinIO names them inside the zip (under
// iam-assets/).
const (
	filePolicies        = "policies.json"
	fileUsers           = "users.json"
	fileGroups          = "groups.json"
	fileSvcAccts        = "svcaccts.json"
	fileUserMappings    = "user_mappings.json"
	fileGroupMappings   = "group_mappings.json"
	fileSTSUserMappings = "stsuser_mappings.json"
)

var exportFiles = []string{filePolicies, fileUsers, fileGroups, fileSvcAccts, fileUserMappings, fileGroupMappings, fileSTSUserMappings}

// Limits on what is read: an export is a file an operator hands over, and
// is treated as untrusted.
const (
	MaxFileBytes  = 64 << 20 // one JSON file of the export
	MaxZipEntries = 1000
)

// Export is MinIO's IAM export.
type Export struct {
	// Policies maps a policy name to its document, as exported (built-in
	// policies such as readwrite included).
	Policies map[string]json.RawMessage
	Users    map[string]User  // by access key
	Groups   map[string]Group // by name
	// ServiceAccounts by access key.
	ServiceAccounts map[string]ServiceAccount
	// UserMappings: internal user → policies; GroupMappings: group (or,
	// with LDAP, group DN) → policies; STSUserMappings: LDAP user DN (or
	// other STS user) → policies.
	UserMappings, GroupMappings, STSUserMappings map[string]Mapping
	// Files names the files read, in the order above; missing ones are left out.
	Files []string
}

// User is an internal MinIO user.
type User struct {
	SecretKey string `json:"secretKey"`
	Policy    string `json:"policy"`
	Status    string `json:"status"` // "enabled" or "disabled"
}

// Group is an internal MinIO group.
type Group struct {
	Status  string   `json:"status"`
	Members []string `json:"members"`
}

// ServiceAccount is a MinIO service account (an access key of a user).
type ServiceAccount struct {
	Parent        string          `json:"parent"`
	AccessKey     string          `json:"accessKey"`
	SecretKey     string          `json:"secretKey"`
	Groups        []string        `json:"groups"`
	SessionPolicy json.RawMessage `json:"sessionPolicy"`
	Status        string          `json:"status"` // "on" or "off"
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	Expiration    *time.Time      `json:"expiration"`
}

// HasPolicy reports whether the account has an embedded policy of its own
// (rather than its parent's policies).
func (s ServiceAccount) HasPolicy() bool {
	p := bytes.TrimSpace(s.SessionPolicy)
	return len(p) > 0 && !bytes.Equal(p, []byte("null")) && !bytes.Equal(p, []byte(`""`)) && !bytes.Equal(p, []byte("{}"))
}

// Expires returns the account's expiry, if it has one (MinIO writes the
// zero Unix time for "never").
func (s ServiceAccount) Expires() (time.Time, bool) {
	if s.Expiration == nil || s.Expiration.IsZero() || s.Expiration.Unix() <= 0 {
		return time.Time{}, false
	}
	return s.Expiration.UTC(), true
}

// Mapping is the policies attached to one user or group.
type Mapping struct {
	Policy string `json:"policy"` // comma-separated policy names
}

// PolicyNames splits the mapping into policy names.
func (m Mapping) PolicyNames() []string {
	var out []string
	for p := range strings.SplitSeq(m.Policy, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// ReadExport reads an export from the zip file MinIO writes, or from a
// directory it was extracted to (holding the JSON files directly or under
// iam-assets/).
func ReadExport(name string) (*Export, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if fi.Size() > MaxZipEntries*MaxFileBytes {
			return nil, fmt.Errorf("%s: too large for an IAM export", name)
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := zip.NewReader(f, fi.Size())
		if err != nil {
			return nil, fmt.Errorf("%s: not a zip file (mc admin cluster iam export writes one): %w", name, err)
		}
		return readZip(name, zr)
	}
	dir := name
	if _, err := os.Stat(filepath.Join(dir, "iam-assets")); err == nil {
		dir = filepath.Join(dir, "iam-assets")
	}
	files := map[string][]byte{}
	for _, f := range exportFiles {
		p := filepath.Join(dir, f)
		b, err := readLimited(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[f] = b
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no IAM export files (%s)", name, strings.Join(exportFiles, ", "))
	}
	return ParseExport(dir, files)
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB", p, MaxFileBytes>>20)
	}
	return b, nil
}

// ReadExportZip reads an export from the bytes of its zip file; name is
// used in messages.
func ReadExportZip(name string, data []byte) (*Export, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a zip file (mc admin cluster iam export writes one): %w", name, err)
	}
	return readZip(name, zr)
}

func readZip(name string, zr *zip.Reader) (*Export, error) {
	if len(zr.File) > MaxZipEntries {
		return nil, fmt.Errorf("%s: %d entries; an IAM export has %d", name, len(zr.File), len(exportFiles))
	}
	files := map[string][]byte{}
	for _, zf := range zr.File {
		base := path.Base(zf.Name)
		if !slices.Contains(exportFiles, base) || zf.FileInfo().IsDir() {
			continue
		}
		if _, dup := files[base]; dup {
			return nil, fmt.Errorf("%s: %s appears twice", name, base)
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, zf.Name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, MaxFileBytes+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, zf.Name, err)
		}
		if len(b) > MaxFileBytes {
			return nil, fmt.Errorf("%s: %s: larger than %d MiB", name, zf.Name, MaxFileBytes>>20)
		}
		files[base] = b
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no IAM export files (%s)", name, strings.Join(exportFiles, ", "))
	}
	return ParseExport(name, files)
}

// ParseExport decodes the export's files, by base name. where prefixes
// messages: "export.zip: users.json:3:7: ...".
func ParseExport(where string, files map[string][]byte) (*Export, error) {
	e := &Export{
		Policies: map[string]json.RawMessage{}, Users: map[string]User{}, Groups: map[string]Group{},
		ServiceAccounts: map[string]ServiceAccount{}, UserMappings: map[string]Mapping{},
		GroupMappings: map[string]Mapping{}, STSUserMappings: map[string]Mapping{},
	}
	targets := map[string]any{
		filePolicies: &e.Policies, fileUsers: &e.Users, fileGroups: &e.Groups, fileSvcAccts: &e.ServiceAccounts,
		fileUserMappings: &e.UserMappings, fileGroupMappings: &e.GroupMappings, fileSTSUserMappings: &e.STSUserMappings,
	}
	var errs []error
	for _, f := range exportFiles {
		b, ok := files[f]
		if !ok {
			continue
		}
		e.Files = append(e.Files, f)
		if err := decodeJSON(b, targets[f]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s%w", where, f, err))
		}
	}
	for name, p := range e.Policies {
		if !json.Valid(p) || !bytes.HasPrefix(bytes.TrimSpace(p), []byte("{")) {
			errs = append(errs, fmt.Errorf("%s: %s: policy %q is not a JSON object", where, filePolicies, name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// decodeJSON decodes one export file into v (a map), with the line and
// column of a syntax or type error: ":3:7: ...".
func decodeJSON(b []byte, v any) error {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // MinIO writes an empty file for an empty map in some versions
	}
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // the offending byte
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return fmt.Errorf(": %w", err)
	}
	line, col := position(b, off)
	return fmt.Errorf(":%d:%d: %w", line, col, err)
}

func position(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	start := bytes.LastIndexByte(before, '\n') + 1
	return bytes.Count(before, []byte("\n")) + 1, len(before) - start + 1
}
