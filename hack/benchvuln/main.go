// Command benchvuln serves the scan benchmark (hack/bench-scan.sh):
//
//	benchvuln -write DIR -sbom FILE [-filler N]
//	        writes a grype database into DIR/6 (the layout of grype's cache,
//	        so the stock CLI reads the same file with GRYPE_DB_CACHE_DIR=DIR)
//	        with grype's own writer: one made-up advisory for every Debian
//	        package FILE lists, half of them fixed in a later version, and
//	        N more for packages it does not list, so the database has the
//	        size of a real distro's data
//	benchvuln -scan DB -sbom FILE
//	        scans FILE as bakery does (vuln.Open, Database.Scan), and prints
//	        the number of findings: grype as a library, without bakery's
//	        verification and signing around it
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bakeryhq/bakery/vuln"
	"github.com/bakeryhq/bakery/vuln/vulntest"
)

func main() {
	write := flag.String("write", "", "write a database into this directory")
	scan := flag.String("scan", "", "scan with this database")
	sbomFile := flag.String("sbom", "", "an SPDX JSON SBOM")
	filler := flag.Int("filler", 100000, "advisories for packages the SBOM does not list")
	flag.Parse()
	doc, err := os.ReadFile(*sbomFile)
	if err != nil {
		log.Fatal(err)
	}
	switch {
	case *write != "":
		pkgs, err := debianPackages(doc)
		if err != nil {
			log.Fatal(err)
		}
		var advs []vulntest.Advisory
		sev := []string{"Negligible", "Low", "Medium", "High", "Critical"}
		for i, p := range pkgs {
			fixed := ""
			if i%2 == 0 {
				fixed = p[1] + "+bench1"
			}
			advs = append(advs, vulntest.Advisory{ID: fmt.Sprintf("CVE-2099-%05d", i), Namespace: "debian:12", Package: p[0], Fixed: fixed, Severity: sev[i%len(sev)]})
		}
		for i := 0; i < *filler; i++ {
			advs = append(advs, vulntest.Advisory{ID: fmt.Sprintf("CVE-2098-%06d", i), Namespace: "debian:12", Package: fmt.Sprintf("filler-%d", i%20000), Fixed: "1.0", Severity: sev[i%len(sev)]})
		}
		path, err := vulntest.Write(filepath.Join(*write, "6"), time.Now(), advs...)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d advisories, %d for the SBOM's packages\n", path, len(advs), len(pkgs))
	case *scan != "":
		db, err := vuln.Open(*scan)
		if err != nil {
			log.Fatal(err)
		}
		findings, n, err := db.Scan(context.Background(), doc)
		db.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d findings in %d packages\n", len(findings), n)
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// debianPackages are the name and version of every deb package of an SPDX
// document.
func debianPackages(doc []byte) ([][2]string, error) {
	var d struct {
		Packages []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				ReferenceLocator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var out [][2]string
	for _, p := range d.Packages {
		for _, r := range p.ExternalRefs {
			if strings.HasPrefix(r.ReferenceLocator, "pkg:deb/") {
				out = append(out, [2]string{p.Name, p.VersionInfo})
				break
			}
		}
	}
	return out, nil
}
