package minioimport

import (
	"os"
	"testing"
)

// An export is a file an operator was handed: reading it, and importing
// what was read, must never panic.
func FuzzReadExportZip(f *testing.F) {
	f.Add(zipOf(f, "testdata/export/iam-assets"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		exp, err := ReadExportZip("fuzz.zip", data)
		if err != nil {
			return
		}
		if _, err := Convert(exp, nil, fixedOpts); err != nil {
			t.Fatalf("convert: %v", err)
		}
	})
}

// One export file at a time, with the identity settings, through Convert.
func FuzzParseExport(f *testing.F) {
	for i, name := range exportFiles {
		b, err := os.ReadFile("testdata/export/iam-assets/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	idp, err := os.ReadFile("testdata/idp.txt")
	if err != nil {
		f.Fatal(err)
	}
	subs, err := ParseIdentityConfig("idp.txt", idp)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		name := exportFiles[int(which)%len(exportFiles)]
		exp, err := ParseExport("fuzz", map[string][]byte{name: data})
		if err != nil {
			return
		}
		if _, err := Convert(exp, subs, fixedOpts); err != nil {
			t.Fatalf("convert: %v", err)
		}
	})
}

// mc's key=value lines, through Convert.
func FuzzParseIdentityConfig(f *testing.F) {
	idp, err := os.ReadFile("testdata/idp.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(idp)
	f.Add([]byte(`identity_openid a="b\"c" d=`))
	exp, err := ReadExport("testdata/export")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		subs, err := ParseIdentityConfig("fuzz.txt", data)
		if err != nil {
			return
		}
		for _, s := range subs {
			if len(s.Keys) != len(s.KV) {
				t.Fatalf("keys %v for %v", s.Keys, s.KV)
			}
		}
		if _, err := Convert(exp, subs, fixedOpts); err != nil {
			t.Fatalf("convert: %v", err)
		}
	})
}
