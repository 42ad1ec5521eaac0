package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute:                  "15 minutes",
		time.Hour:                         "1 hour",
		24 * time.Hour:                    "1 day",
		7 * 24 * time.Hour:                "7 days",
		time.Minute:                       "1 minute",
		45*time.Minute - time.Second:      "44 minutes 59 seconds",
		90 * time.Minute:                  "1 hour 30 minutes",
		25*time.Hour + 5*time.Minute:      "1 day 1 hour",
		24*time.Hour + 5*time.Minute:      "1 day",
		30*time.Second + time.Millisecond: "30 seconds",
		500 * time.Millisecond:            "less than a second",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// The console's pages and assets use no character that needs a symbol or
// emoji font: icons are SVG files among the assets. Latin-1 and general
// punctuation ("·", "…") are in every text font.
func TestNoSymbolGlyphs(t *testing.T) {
	escape := regexp.MustCompile(`\\(?:u\{?)?([0-9a-fA-F]{4,6})\b`)
	for _, root := range []fs.FS{templateFS, assetFS} {
		err := fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(name, ".svg") {
				return err
			}
			data, _ := fs.ReadFile(root, name)
			for i, line := range strings.Split(string(data), "\n") {
				for _, r := range line {
					if r > 0x206F {
						t.Errorf("%s:%d: %U %q needs a symbol font; use an SVG icon", name, i+1, r, r)
					}
				}
				for _, m := range escape.FindAllStringSubmatch(line, -1) {
					if v, _ := strconv.ParseUint(m[1], 16, 32); v > 0x206F {
						t.Errorf("%s:%d: escape %s (U+%X) needs a symbol font; use an SVG icon", name, i+1, m[0], v)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The icons the stylesheet names are served, as SVG.
func TestIconsServed(t *testing.T) {
	css, _ := assetFS.ReadFile("assets/console.css")
	icons := regexp.MustCompile(`url\(/_iamgate/assets/([a-z-]+\.svg)\)`).FindAllStringSubmatch(string(css), -1)
	if len(icons) == 0 {
		t.Fatal("the stylesheet names no icon")
	}
	for _, m := range icons {
		rec := httptest.NewRecorder()
		serveAsset(rec, httptest.NewRequest(http.MethodGet, "/_iamgate/assets/"+m[1], nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(rec.Body.String(), "<svg ") {
			t.Errorf("%s: %d %s %.40q", m[1], rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
}
