// Package vulntest makes small grype vulnerability databases for tests with
// grype's own database writer (the one grype's database builder uses), from
// advisories in the format of its OS data providers: no network, no
// download, and the same schema and indexes the stock `grype db import`
// leaves.
package vulntest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anchore/grype/grype/db/processors"
	"github.com/anchore/grype/grype/db/provider"
	v6 "github.com/anchore/grype/grype/db/v6"
	dbbuild "github.com/anchore/grype/grype/db/v6/build"
	ostransform "github.com/anchore/grype/grype/db/v6/build/transformers/os"
	"github.com/spf13/afero"
)

// Advisory is one made-up distro advisory: ID affects Package in Namespace
// (debian:12, alpine:3.20, …) below Fixed, or at every version when Fixed
// is "" (no fix yet).
type Advisory struct {
	ID        string
	Namespace string
	Package   string
	Fixed     string
	// Severity is Negligible, Low, Medium, High or Critical.
	Severity string
}

// osSchema is the schema of the OS provider's records.
const osSchema = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/os/schema-1.0.0.json"

// Write builds a database of advisories in dir (created), recording built
// as its build time, and returns the vulnerability.db path. dir is laid out
// as grype's cache after `grype db import`: vulnerability.db, indexed, and
// import.json.
func Write(dir string, built time.Time, advisories ...Advisory) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	records, err := json.Marshal(osRecords(advisories))
	if err != nil {
		return "", err
	}
	state := provider.State{Provider: "bakery-test", Version: 1, Processor: "vulntest", Timestamp: built,
		Schema: provider.Schema{Version: "1.0.0", URL: osSchema}}
	entries, err := processors.NewV2OSProcessor(ostransform.Transform).Process(bytes.NewReader(records), state)
	if err != nil {
		return "", fmt.Errorf("advisories: %w", err)
	}
	w, err := dbbuild.NewWriter(dir, provider.States{state}, false, 0)
	if err != nil {
		return "", err
	}
	if err := w.Write(entries...); err != nil {
		w.Close()
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	file := filepath.Join(dir, v6.VulnerabilityDBFileName)
	if err := setBuilt(file, built); err != nil {
		return "", err
	}
	if err := v6.Hydrater()(dir); err != nil {
		return "", fmt.Errorf("indexing: %w", err)
	}
	if _, err := v6.WriteImportMetadata(afero.NewOsFs(), dir, "bakery vulntest"); err != nil {
		return "", err
	}
	return file, nil
}

// setBuilt records built as the database's build time (the writer records
// the time it ran).
func setBuilt(file string, built time.Time) error {
	db, err := v6.NewLowLevelDB(file, false, true, false)
	if err != nil {
		return err
	}
	ts := built.UTC().Round(time.Second)
	if err := db.Model(&v6.DBMetadata{}).Where("true").Update("build_timestamp", &ts).Error; err != nil {
		return err
	}
	d, err := db.DB()
	if err != nil {
		return err
	}
	return d.Close()
}

// osRecords are advisories as the OS provider's records.
func osRecords(advisories []Advisory) []map[string]any {
	var out []map[string]any
	for _, a := range advisories {
		format := "dpkg"
		switch {
		case strings.HasPrefix(a.Namespace, "alpine"), strings.HasPrefix(a.Namespace, "wolfi"):
			format = "apk"
		case strings.HasPrefix(a.Namespace, "rhel"), strings.HasPrefix(a.Namespace, "amazon"):
			format = "rpm"
		}
		version := a.Fixed
		if version == "" {
			version = "None"
		}
		out = append(out, map[string]any{"Vulnerability": map[string]any{
			"Name": a.ID, "NamespaceName": a.Namespace, "Severity": a.Severity, "Description": "made up by bakery's tests",
			"Link":     "https://bakery.invalid/advisories/" + a.ID,
			"CVSS":     []any{},
			"Metadata": map[string]any{},
			"FixedIn": []map[string]any{{
				"Name": a.Package, "NamespaceName": a.Namespace, "Version": version, "VersionFormat": format,
				"VendorAdvisory": map[string]any{"AdvisorySummary": []any{}, "NoAdvisory": false},
			}},
		}})
	}
	if out == nil {
		out = []map[string]any{}
	}
	return out
}

// SetModel rewrites the schema model a database's metadata records (a
// database of another schema, for tests of what bakery refuses).
func SetModel(file string, model int) error {
	db, err := v6.NewLowLevelDB(file, false, true, false)
	if err != nil {
		return err
	}
	if err := db.Model(&v6.DBMetadata{}).Where("true").Update("model", model).Error; err != nil {
		return err
	}
	d, err := db.DB()
	if err != nil {
		return err
	}
	return d.Close()
}
