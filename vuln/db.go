// Package vuln answers "which known vulnerabilities does this digest
// carry?" offline: it matches a verified SPDX SBOM against a grype
// vulnerability database the user provides (Database), records each
// platform's findings as a signed in-toto statement with cosign's
// vulnerability predicate (Record), picks the scan that counts for a digest
// (Scans), and says which findings a signed VEX statement or a waiver
// suppresses (Suppress). It never downloads anything: the database is a
// file that `grype db update` or `grype db import` made.
package vuln

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v6 "github.com/anchore/grype/grype/db/v6"
	"github.com/anchore/grype/grype/vulnerability"
	"github.com/spf13/afero"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
)

// Database is an open grype database (schema v6), read only.
type Database struct {
	provider vulnerability.Provider
	status   Status
}

// Status is what bakery db status shows of a database, and what a scan
// records of the one it used.
type Status struct {
	// Path is the vulnerability.db file.
	Path string `json:"path"`
	// Schema is the database's schema version, e.g. v6.1.10.
	Schema string `json:"schema"`
	// Built is when the database was built: its version, as scans compare
	// databases.
	Built time.Time `json:"built"`
	// Checksum is the file's checksum as grype's import.json beside it
	// records it ("" without one).
	Checksum string `json:"checksum"`
}

// Age is how long ago the database was built.
func (s Status) Age(now time.Time) time.Duration { return now.Sub(s.Built) }

// Open opens the grype database at path: the vulnerability.db file or the
// directory holding it. A missing, truncated or foreign file is a
// failure.Config naming the file.
func Open(path string) (*Database, error) {
	subj := "vulnerabilities.db " + path
	if path == "" {
		return nil, failure.New(failure.Config, "vulnerabilities.db", errors.New("not set"),
			"set vulnerabilities.db in bakery.yaml to grype's vulnerability.db (get it with the stock grype db update, or grype db import on an air-gapped site)")
	}
	file := path
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		file = filepath.Join(path, v6.VulnerabilityDBFileName)
	}
	if filepath.Base(file) != v6.VulnerabilityDBFileName {
		return nil, failure.New(failure.Config, subj, fmt.Errorf("grype's database file is named %s", v6.VulnerabilityDBFileName),
			"name the file vulnerability.db, or name the directory holding it")
	}
	if _, err := os.Stat(file); err != nil {
		return nil, failure.New(failure.Config, subj, err, "get the database with the stock grype db update, or grype db import ARCHIVE")
	}
	if err := sqliteHeader(file); err != nil {
		return nil, failure.New(failure.Config, subj, err, "the file is not a complete grype database: copy it again, or re-import it with grype db import")
	}
	rd, err := v6.NewReader(v6.Config{DBDirPath: filepath.Dir(file)})
	if err != nil {
		return nil, failure.New(failure.Config, subj, err, "bakery reads grype's schema v6 databases: update it with a grype of v0.88 or later (grype db update)")
	}
	meta, err := rd.GetDBMetadata()
	if err != nil || meta == nil || meta.BuildTimestamp == nil {
		rd.Close()
		if err == nil {
			err = errors.New("no build time recorded")
		}
		return nil, failure.New(failure.Config, subj, fmt.Errorf("unreadable metadata: %w", err), "re-import the database with grype db import")
	}
	return &Database{
		provider: v6.NewVulnerabilityProvider(rd),
		status: Status{Path: file, Schema: fmt.Sprintf("v%d.%d.%d", meta.Model, meta.Revision, meta.Addition),
			Built: meta.BuildTimestamp.UTC(), Checksum: importChecksum(filepath.Dir(file))},
	}, nil
}

// Configured opens the database cfg's vulnerabilities.db names (relative to
// the config file); nil and no error when none is configured.
func Configured(cfg *config.Config) (*Database, error) {
	if cfg.Vulnerabilities.DB == "" {
		return nil, nil
	}
	return Open(cfg.Path(cfg.Vulnerabilities.DB))
}

// Status is what the database is.
func (d *Database) Status() Status { return d.status }

// Close closes the database.
func (d *Database) Close() error { return d.provider.Close() }

// Fresh is nil when the database was built at most maxAge before now
// (maxAge 0: any age), else a failure.Config saying how old it is: a
// decision never rests on stale vulnerability data.
func (d *Database) Fresh(now time.Time, maxAge time.Duration) error {
	age := d.status.Age(now)
	if maxAge <= 0 || age <= maxAge {
		return nil
	}
	return failure.New(failure.Config, "vulnerabilities.db "+d.status.Path,
		fmt.Errorf("built %s, %s ago; vulnerabilities.max_db_age allows %s", d.status.Built.Format(time.RFC3339), age.Round(time.Minute), maxAge),
		"update it (grype db update, or grype db import on an air-gapped site), or raise vulnerabilities.max_db_age")
}

// sqliteHeader checks that file starts as an SQLite 3 database and is as
// long as its header says: a truncated copy fails here, by name, rather
// than deep inside a query.
func sqliteHeader(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return errors.New("not an SQLite database (too short)")
	}
	if string(h[:16]) != "SQLite format 3\x00" {
		return errors.New("not an SQLite database")
	}
	pageSize := int64(h[16])<<8 | int64(h[17])
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(h[28])<<24 | int64(h[29])<<16 | int64(h[30])<<8 | int64(h[31])
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if want := pageSize * pages; pages > 0 && fi.Size() < want {
		return fmt.Errorf("truncated: %d bytes of %d", fi.Size(), want)
	}
	return nil
}

// importChecksum is the checksum grype's import.json in dir records, or "".
func importChecksum(dir string) string {
	m, err := v6.ReadImportMetadata(afero.NewOsFs(), dir)
	if err != nil {
		return ""
	}
	return m.Digest
}
