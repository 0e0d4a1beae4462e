package revoke

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/internal/bakerytest"
	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/failure"
	bakeryregistry "github.com/bakeryhq/bakery/internal/registry"
)

type fixture struct {
	ctx              context.Context
	cfg              *config.Config
	signer, attacker signature.SignerVerifier
	keys             []attest.TrustedKey
}

// newFixture makes dev and prod environments on two in-process registries,
// a trusted key pair and an attacker's.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background()}
	var hosts []string
	for range 2 {
		hosts = append(hosts, bakerytest.NewRegistry(t).Host)
	}
	dir := t.TempDir()
	load := func(name string) (signature.SignerVerifier, string) {
		priv, pub, err := attest.GenerateKeys(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		sv, err := attest.LoadSigner(f.ctx, priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sv, pub
	}
	var pub string
	f.signer, pub = load("trusted")
	f.attacker, _ = load("attacker")
	var err error
	if f.keys, err = attest.NewTrustedKeys(f.ctx, []string{pub}); err != nil {
		t.Fatal(err)
	}
	f.cfg = &config.Config{Environments: []config.Environment{
		{Name: "dev", Repository: hosts[0] + "/dev", Insecure: true},
		{Name: "prod", Repository: hosts[1] + "/prod", Insecure: true},
	}}
	return f
}

// rawManifest is a manifest as bytes, for remote.Put.
type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error) { return r, nil }

func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func entry(digest, action string, at time.Time) Entry {
	return Entry{Digest: digest, Action: action, Reason: "CVE-2024-3094", By: "ops",
		Time: time.Now().UTC().Format(TimeFormat), EffectiveAt: at.UTC().Format(TimeFormat)}
}

const (
	xz    = "sha256:" + "aa" + "00000000000000000000000000000000000000000000000000000000000000"
	other = "sha256:" + "bb" + "00000000000000000000000000000000000000000000000000000000000000"
)

func (f *fixture) load(t testing.TB) *Set {
	t.Helper()
	s, err := Load(f.ctx, f.cfg, attest.Trusting(f.keys))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRevokeRestoreSchedule: a revocation is in force from its effective
// time until a later restore, in every environment's copy of the list.
func TestRevokeRestoreSchedule(t *testing.T) {
	f := newFixture(t)
	if s := f.load(t); len(s.Entries()) != 0 || len(s.Ignored) != 0 {
		t.Fatalf("no lists yet: %+v", s)
	}
	now := time.Now()
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(xz, ActionRevoke, now)}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(48 * time.Hour)
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(other, ActionRevoke, later)}); err != nil {
		t.Fatal(err)
	}
	s := f.load(t)
	if e, ok := s.Revoked(xz, time.Now()); !ok || e.Reason != "CVE-2024-3094" {
		t.Errorf("xz: %+v %v, want revoked", e, ok)
	}
	if _, ok := s.Revoked(other, time.Now()); ok {
		t.Error("a scheduled revocation is in force before its time")
	}
	if _, ok := s.Scheduled(other, time.Now()); !ok {
		t.Error("the scheduled revocation is not listed as scheduled")
	}
	if _, ok := s.Revoked(other, later.Add(time.Second)); !ok {
		t.Error("the scheduled revocation is not in force after its time")
	}
	for i := range f.cfg.Environments {
		loc, _ := Location(&f.cfg.Environments[i])
		if got, err := read(f.ctx, loc, attest.Trusting(f.keys)); err != nil || len(got) != 2 {
			t.Errorf("%s holds %d entries (%v), want both", loc, len(got), err)
		}
	}
	time.Sleep(time.Millisecond) // a later entry
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(xz, ActionRestore, time.Now())}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.load(t).Revoked(xz, time.Now()); ok {
		t.Error("still revoked after --restore")
	}
}

// TestForgedAndRolledBackListsDoNotCount: an attacker who can push to dev
// replaces dev's list with one signed by their own key (which revokes a
// digest and drops the real entry), then with an older genuine list. The
// forged list is reported and ignored; prod's copy keeps the real entry.
func TestForgedAndRolledBackListsDoNotCount(t *testing.T) {
	f := newFixture(t)
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(other, ActionRevoke, time.Now())}); err != nil {
		t.Fatal(err)
	}
	devLoc, _ := Location(&f.cfg.Environments[0])
	older, err := remote.Get(devLoc)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(xz, ActionRevoke, time.Now())}); err != nil {
		t.Fatal(err)
	}

	// Forgery: dev's list, signed by the attacker, revokes other only.
	if err := push(f.ctx, &config.Config{Environments: f.cfg.Environments[:1]}, f.attacker, []Entry{entry(other, ActionRestore, time.Now())}); err != nil {
		t.Fatal(err)
	}
	s := f.load(t)
	if len(s.Ignored) != 1 || !strings.Contains(s.Ignored[0], devLoc.String()) || !strings.Contains(s.Ignored[0], "trusted key") {
		t.Errorf("ignored %v, want dev's forged list", s.Ignored)
	}
	if _, ok := s.Revoked(xz, time.Now()); !ok {
		t.Error("the forged dev list hid prod's entry for xz")
	}
	if _, ok := s.Revoked(other, time.Now()); !ok {
		t.Error("the forged restore of other was honoured")
	}

	// Rollback: dev's list is put back to the genuine older one, without xz.
	if err := remote.Tag(devLoc, older); err != nil {
		t.Fatal(err)
	}
	s = f.load(t)
	if _, ok := s.Revoked(xz, time.Now()); !ok || len(s.Ignored) != 0 {
		t.Errorf("an older genuine dev list dropped xz's revocation (ignored %v)", s.Ignored)
	}

	// A list whose layer is not there does not stop every verification.
	broken := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","digest":"sha256:` + strings.Repeat("2", 64) + `","size":9}]}`)
	if err := remote.Put(devLoc, rawManifest(broken)); err != nil {
		t.Fatal(err)
	}
	s = f.load(t)
	if _, ok := s.Revoked(xz, time.Now()); !ok || len(s.Ignored) != 1 {
		t.Errorf("a dev list with a missing layer: ignored %v, xz revoked %v; want it ignored and prod's entry kept", s.Ignored, ok)
	}

	// The next revoke writes the union everywhere again.
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), nil); err != nil {
		t.Fatal(err)
	}
	if got, err := read(f.ctx, devLoc, attest.Trusting(f.keys)); err != nil || len(got) != 2 {
		t.Errorf("dev holds %d entries after a write (%v), want 2", len(got), err)
	}
}

// TestAnUnreachableEnvironmentIsSkipped: one environment's registry being
// down does not stop every verification and promotion (every revoke writes
// every list, so the others hold the same entries); all of them being down
// is an error.
func TestAnUnreachableEnvironmentIsSkipped(t *testing.T) {
	s := bakeryregistry.DefaultSettings
	s.Attempts, s.RequestTimeout, s.MaxRetryWait = 1, time.Second, 10*time.Millisecond
	bakeryregistry.Configure(s)
	t.Cleanup(func() { bakeryregistry.Configure(bakeryregistry.DefaultSettings) })
	f := newFixture(t)
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), []Entry{entry(xz, ActionRevoke, time.Now())}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	f.cfg.Environments = append(f.cfg.Environments, config.Environment{Name: "gone", Repository: dead + "/gone", Insecure: true})
	got := f.load(t)
	if _, ok := got.Revoked(xz, time.Now()); !ok || len(got.Ignored) != 1 || !strings.Contains(got.Ignored[0], "unreachable") {
		t.Errorf("one registry down: revoked %v, ignored %v", ok, got.Ignored)
	}
	f.cfg.Environments = f.cfg.Environments[2:]
	if _, err := Load(f.ctx, f.cfg, attest.Trusting(f.keys)); failure.ClassOf(err) != failure.Unavailable {
		t.Errorf("every registry down: %v, want unavailable", err)
	}
	if err := Write(f.ctx, f.cfg, f.signer, attest.Trusting(f.keys), nil); failure.ClassOf(err) != failure.Unavailable {
		t.Errorf("writing with a registry down: %v, want unavailable", err)
	}
}
