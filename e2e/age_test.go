//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/attest/attesttest"
)

// TestMaxAgeDeniesOldBuilds: prod allows digests built at most 30 days ago.
// A fresh build passes staging's max_age of 30 days; then its provenance in
// staging is replaced by one, signed by the trusted builder key, that says
// the build finished 40 days ago, and prod denies it with exit 5, naming the
// age and the limit. The same digest with no build time is denied too.
func TestMaxAgeDeniesOldBuilds(t *testing.T) {
	ns := runID + "/age"
	cfg := promoteProject(t, ns, "")
	edited := strings.Replace(readFile(t, cfg), "    policies: [signed, sbom, provenance, promoted_through]\n",
		"    policies: [signed, sbom, provenance, promoted_through, max_age]\n    max_age_days: 30\n", 1)
	edited = strings.Replace(edited, "    policies: [signed, sbom, provenance, promoted_through, license_denylist, package_denylist]\n",
		"    policies: [signed, sbom, provenance, promoted_through, max_age]\n    max_age_days: 30\n", 1)
	writeFiles(t, filepath.Dir(cfg), map[string]string{"bakery.yaml": edited})
	d := buildDigest(t, cfg)
	if _, r := promoteJSON(t, cfg, "--to", "staging"); r.code != 0 {
		t.Fatalf("a fresh build to staging (max_age 30): exit %d", r.code)
	}
	staging, err := name.NewDigest(regAddr+"/"+ns+"/staging/golden@"+d, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		finished *time.Time
		want     string
	}{
		{ptrTime(time.Now().Add(-40 * 24 * time.Hour)), "was built 40 days ago; prod allows at most 30"},
		{nil, "has no verified build time, so its age in prod is unknown"},
	} {
		replaceProvenance(t, staging, tc.finished)
		out, r := promoteJSON(t, cfg, "--to", "prod")
		if r.code != 5 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("promote to prod: exit %d, %v; want 5 and %q\n%s", r.code, out, tc.want, r.stderr)
		}
		if code := headStatus(t, registry2, ns+"/prod/golden", d); code != 404 {
			t.Errorf("the denied digest is in prod (HEAD %d)", code)
		}
	}
}

// replaceProvenance swaps the SLSA provenance of ref for one that says the
// build finished at finished (nil: no time), signed with the trusted key,
// as a build that long ago would have left it.
func replaceProvenance(t *testing.T, ref name.Digest, finished *time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := attesttest.DropAttestations(ctx, ref, func(pt string, _ []string) bool { return pt == attest.PredicateSLSAv1 }); err != nil {
		t.Fatal(err)
	}
	pred, err := json.Marshal(attest.Provenance{
		BuildDefinition: attest.BuildDefinition{BuildType: attest.BuildTypeContainer}, // externalParameters: {}
		RunDetails: attest.RunDetails{Builder: attest.Builder{ID: "https://github.com/bakeryhq/bakery/e2e"},
			Metadata: attest.Metadata{FinishedOn: finished}},
	})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attest.LoadSigner(ctx, filepath.Join(keyDir, "trusted.key"), []byte(signingPassword))
	if err != nil {
		t.Fatal(err)
	}
	st := attest.Statement{PredicateType: attest.PredicateSLSAv1, Subjects: []attest.Subject{attest.SubjectOf(ref)}, Predicate: pred}
	if err := attesttest.AttachStatement(ctx, signer, ref, st, attest.PredicateSLSAv1, "application/vnd.in-toto+json"); err != nil {
		t.Fatal(err)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }
