package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Values of Protect.Delete and Protect.Overwrite.
const (
	GuardDeny          = "deny"
	GuardVersionedOnly = "versioned-only"
)

// Protect holds a role's destructive-action guards (roles[].protect). The
// zero value guards nothing.
type Protect struct {
	Delete    string // "", GuardDeny or GuardVersionedOnly
	Overwrite string // "", GuardDeny or GuardVersionedOnly
	// BulkDelete bounds the keys one session deletes per window; nil: no
	// bound.
	BulkDelete *BulkDelete
	Pos        Pos
}

// BulkDelete is protect.bulk_delete: at most MaxKeys keys deleted per
// Window by one session.
type BulkDelete struct {
	MaxKeys int64
	Window  time.Duration
}

// Bounds of protect.bulk_delete.
const (
	MaxBulkDeleteKeys   = 1 << 30
	MinBulkDeleteWindow = time.Second
	MaxBulkDeleteWindow = 7 * 24 * time.Hour
)

func (p *parser) protect(n *yaml.Node, path string) Protect {
	pr := Protect{Pos: p.pos(n)}
	p.mapping(n, path, []field{
		{"delete", func(path string, v *yaml.Node) { pr.Delete, _ = p.enum(v, path, GuardDeny, GuardVersionedOnly) }},
		{"overwrite", func(path string, v *yaml.Node) { pr.Overwrite, _ = p.enum(v, path, GuardDeny, GuardVersionedOnly) }},
		{"bulk_delete", func(path string, v *yaml.Node) {
			b := &BulkDelete{}
			present, ok := p.mapping(v, path, []field{
				{"max_keys", func(path string, v *yaml.Node) { b.MaxKeys, _ = p.integer(v, path, MaxBulkDeleteKeys) }},
				{"window", func(path string, v *yaml.Node) {
					b.Window, _ = p.duration(v, path, MinBulkDeleteWindow, MaxBulkDeleteWindow)
				}},
			})
			if !ok || !p.require(v, path, present, "max_keys", "window") || b.MaxKeys == 0 || b.Window == 0 {
				return
			}
			pr.BulkDelete = b
		}},
	})
	return pr
}
