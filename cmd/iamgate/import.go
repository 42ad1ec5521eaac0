package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/iamgate/iamgate/internal/minioimport"
)

var importCmd = cliCommand{
	Name:  "import minio",
	Usage: "--export FILE [--idp-config FILE] -o FILE [flags]",
	About: `Writes an iamgate configuration from MinIO's IAM export (the zip of
mc admin cluster iam export, or the directory it was extracted to) and its
identity_openid / identity_ldap settings (mc admin config get ALIAS
identity_openid > idp.txt), with policy files next to it, and reports what
was carried over, what was not and why, and the statements MinIO decides
differently (as iamgate check --compat minio does).`,
	Examples: []string{
		"mc admin cluster iam export myminio",
		"mc admin config get myminio identity_openid > idp.txt",
		"iamgate import minio --export myminio-iam-info.zip --idp-config idp.txt --endpoint https://minio.internal:9000 -o iamgate/iamgate.yaml",
	},
}

// cmdImport runs `iamgate import minio`.
func cmdImport(args []string, stdout, stderr io.Writer) error {
	return importAt(args, time.Now(), stdout, stderr)
}

// importAt is cmdImport with service credentials expiring relative to now.
func importAt(args []string, now time.Time, stdout, stderr io.Writer) error {
	c := &importCmd
	fs := c.flagSet()
	export := fs.String("export", "", "MinIO's IAM export: the zip file, or the directory it was extracted to")
	idp := fs.String("idp-config", "", "MinIO's identity_openid and identity_ldap settings, as mc admin config get prints them")
	out := fs.String("o", "", "configuration file to write; policies go to policies/ beside it (required)")
	endpoint := fs.String("endpoint", "http://127.0.0.1:9000", "the MinIO S3 endpoint iamgate forwards to")
	issuer := fs.String("issuer", "", "OpenID Connect issuer URL whose preferred_username and groups claims take over from MinIO's internal users and groups")
	audience := fs.String("audience", "iamgate", "audience of tokens from --issuer")
	expire := fs.Duration("service-credentials-expire", 0, "carry MinIO users' and service accounts' static keys as service credentials expiring after this long (e.g. 720h); 0 = not carried")
	reportFile := fs.String("report", "", "write the report to this file instead of stderr")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	force := fs.Bool("force", false, "overwrite existing files")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		return c.parse(fs, args[:1], stdout)
	}
	if len(args) == 0 || args[0] != "minio" {
		return &usageError{cmd: "import", reason: "the source must be minio: iamgate import minio --export FILE -o FILE"}
	}
	if err := c.parse(fs, args[1:], stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return c.usagef("unexpected argument %q", fs.Arg(0))
	case *out == "":
		return c.usagef("-o FILE is required")
	case *export == "" && *idp == "":
		return c.usagef("give --export FILE, --idp-config FILE or both")
	case *expire < 0:
		return c.usagef("--service-credentials-expire must be positive")
	}
	var exp *minioimport.Export
	if *export != "" {
		var err error
		if exp, err = minioimport.ReadExport(*export); err != nil {
			return err
		}
	}
	var subs []minioimport.Subsystem
	if *idp != "" {
		data, err := os.ReadFile(*idp)
		if err != nil {
			return err
		}
		if subs, err = minioimport.ParseIdentityConfig(*idp, data); err != nil {
			return err
		}
	}
	opts := minioimport.Options{Endpoint: *endpoint, ExportName: filepath.Base(*export), IdentityName: filepath.Base(*idp),
		IssuerURL: *issuer, Audience: *audience}
	if *expire > 0 {
		opts.ServiceCredentials = true
		opts.Expires = now.Add(*expire).UTC().Truncate(time.Second)
	}
	if *export == "" {
		opts.ExportName = ""
	}
	if *idp == "" {
		opts.IdentityName = ""
	}
	res, err := minioimport.Convert(exp, subs, opts)
	if err != nil {
		return err
	}
	if err := writeImport(*out, res, *force); err != nil {
		return err
	}
	rw := stderr
	if *reportFile != "" {
		f, err := os.Create(*reportFile)
		if err != nil {
			return err
		}
		defer f.Close()
		rw = f
	}
	if *asJSON {
		enc := json.NewEncoder(rw)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res.Report); err != nil {
			return err
		}
	} else {
		res.Report.WriteText(rw)
	}
	fmt.Fprintf(stdout, "wrote %s (%d policy files, %d secret files); check it with: iamgate check --config %s --compat minio\n",
		*out, len(res.Policies), len(res.Secrets), *out)
	return nil
}

// writeImport writes the configuration, its policy files and its secret
// files (mode 0600, in a 0700 directory), refusing to overwrite unless force.
func writeImport(out string, res *minioimport.Result, force bool) error {
	dir := filepath.Dir(out)
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	files := []file{{out, res.Config, 0o644}}
	for p, b := range res.Policies {
		files = append(files, file{filepath.Join(dir, filepath.FromSlash(p)), b, 0o644})
	}
	for p, b := range res.Secrets {
		files = append(files, file{filepath.Join(dir, filepath.FromSlash(p)), b, 0o600})
	}
	if !force {
		for _, f := range files {
			if _, err := os.Lstat(f.path); err == nil {
				return fmt.Errorf("%s exists; remove it or give --force", f.path)
			}
		}
	}
	for _, f := range files {
		perm := os.FileMode(0o755)
		if f.mode == 0o600 {
			perm = 0o700
		}
		if err := os.MkdirAll(filepath.Dir(f.path), perm); err != nil {
			return err
		}
		if f.mode == 0o600 {
			// Never through an existing file with wider permissions.
			_ = os.Remove(f.path)
		}
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}
