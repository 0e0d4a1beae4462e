package attest

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	sigs "github.com/sigstore/cosign/v2/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature"

	// KMS providers, registered as cosign's own CLI registers them.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"

	"github.com/bakeryhq/bakery/internal/config"
	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
)

// kmsSchemes are the key references sigstore's KMS providers handle.
var kmsSchemes = []string{"awskms://", "gcpkms://", "hashivault://", "azurekms://"}

// IsKMS reports whether ref names a KMS key rather than a file.
func IsKMS(ref string) bool {
	for _, s := range kmsSchemes {
		if strings.HasPrefix(ref, s) {
			return true
		}
	}
	return false
}

// ErrKeylessUnsupported is returned for a keyless signing configuration.
var ErrKeylessUnsupported = errors.New("keyless signing (Fulcio certificate, Rekor entry) needs network access to Fulcio, Rekor and an OIDC issuer and is not performed by this version of bakery")

// SignerFor returns the signer that signing configures: a key file or KMS key.
// A keyless configuration is refused with ErrKeylessUnsupported, never
// replaced by another way of signing.
func SignerFor(ctx context.Context, s config.Signing, password []byte) (signature.SignerVerifier, error) {
	if s.Keyless != nil {
		return nil, failure.New(failure.Config, "signing.keyless ("+s.Keyless.FulcioURL+")", ErrKeylessUnsupported,
			"sign with signing.key (a cosign key file or KMS URI) instead")
	}
	return LoadSigner(ctx, s.Key, password)
}

// LoadSigner loads a cosign private key file (decrypted with password) or a
// KMS key. Errors never contain the password.
func LoadSigner(ctx context.Context, ref string, password []byte) (signature.SignerVerifier, error) {
	subject := "signing key " + ref
	if ref == "" {
		return nil, failure.New(failure.Config, "signing.key", errors.New("no signing key configured"),
			"set signing.key to a cosign key file or KMS URI (bakery keys generate makes one), or pass --no-attest")
	}
	if !IsKMS(ref) {
		if _, err := os.Stat(ref); err != nil {
			return nil, failure.New(failure.Config, subject, errors.New("key file not found"), "run `bakery keys generate` or fix signing.key")
		}
	}
	if !IsKMS(ref) {
		defer whileDecrypting()()
	}
	sv, err := sigs.SignerVerifierFromKeyRef(ctx, ref, func(bool) ([]byte, error) { return password, nil }, nil)
	if err != nil {
		return nil, signerError(subject, ref, password, err)
	}
	if IsKMS(ref) {
		// KMS signers connect lazily; ask for the public key now so a
		// missing credential or unreachable KMS fails before any build.
		if _, err := sv.PublicKey(); err != nil {
			return nil, failure.New(failure.Unavailable, subject, err, "check the KMS URI, the network and the provider's credentials")
		}
	}
	return sv, nil
}

// A cosign key file is decrypted through scrypt (N=2^16, r=8): a 64 MiB
// work buffer, live for about half a second while the command verifies
// and scans on the other core. With the default GOGC that buffer doubles
// the heap's goal, and the command's peak memory with it. So while a key
// is decrypted GOGC is 10 (the buffer holds no pointers: collecting often
// costs little), and once no key is, GOGC is what it was and a collection
// frees the buffer. A GOGC the user set (not 100) is left alone.
// BENCHMARKS.md, "The vulnerability scan", has the figures.
var decrypting struct {
	sync.Mutex
	n     int // keys being decrypted
	saved int // GOGC before the first
}

// whileDecrypting lowers GOGC for a key's decryption; the function it
// returns ends that.
func whileDecrypting() func() {
	decrypting.Lock()
	defer decrypting.Unlock()
	if decrypting.n == 0 {
		decrypting.saved = debug.SetGCPercent(10)
		if decrypting.saved != 100 {
			debug.SetGCPercent(decrypting.saved) // the user's GOGC
		}
	}
	decrypting.n++
	return func() {
		decrypting.Lock()
		defer decrypting.Unlock()
		if decrypting.n--; decrypting.n == 0 {
			debug.SetGCPercent(decrypting.saved)
			runtime.GC() // the work buffers are garbage now
		}
	}
}

// signerError says why a signing key did not load: an encrypted key file
// with no password set, a wrong password, or what cosign said (never with the
// password in it).
func signerError(subject, ref string, password []byte, err error) error {
	pw, cosignPW := string(env.SigningPassword), string(env.CosignPassword)
	msg := err.Error()
	if password != nil {
		msg = strings.ReplaceAll(msg, string(password), "[redacted]")
	}
	switch {
	case IsKMS(ref):
		return failure.New(failure.Config, subject, errors.New(msg), "check the KMS URI and the provider's credentials")
	case password == nil && encryptedKeyFile(ref):
		return failure.New(failure.Config, subject,
			fmt.Errorf("the key is encrypted and %s is not set (nor %s)", pw, cosignPW),
			"export "+pw+"=<the key's password> (cosign's "+cosignPW+" also works)")
	case strings.Contains(msg, "decrypt"):
		return failure.New(failure.Config, subject, errors.New("wrong password for the encrypted key"),
			"check "+pw+" (or "+cosignPW+"): it is set but does not decrypt this key")
	}
	return failure.New(failure.Config, subject, errors.New(msg), "check the key file and "+pw+" / "+cosignPW)
}

// encryptedKeyFile reports whether ref is a PEM file holding an encrypted
// cosign or sigstore private key.
func encryptedKeyFile(ref string) bool {
	b, err := os.ReadFile(ref)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(b)
	return block != nil && strings.HasPrefix(block.Type, "ENCRYPTED ")
}

// LoadVerifier loads a cosign public key file or a KMS key's public half
// listed under verification.keys.
func LoadVerifier(ctx context.Context, ref string) (signature.Verifier, error) {
	return loadVerifier(ctx, FromConfig, ref)
}

// loadVerifier loads ref, blaming a key that does not load on origin
// (FromFlag or FromConfig).
func loadVerifier(ctx context.Context, origin, ref string) (signature.Verifier, error) {
	subject := origin + " " + ref
	fix := "fix " + origin
	if origin == FromFlag {
		fix = "pass a cosign public key file or KMS URI to --key"
	}
	if !IsKMS(ref) {
		if _, err := os.Stat(ref); errors.Is(err, os.ErrNotExist) {
			return nil, failure.New(failure.Config, subject, errors.New("public key file not found"), fix)
		}
	}
	v, err := sigs.PublicKeyFromKeyRef(ctx, ref)
	if err != nil {
		return nil, failure.New(failure.Config, subject, err, fix)
	}
	return v, nil
}

// KeyID is a short, stable id for a verifier's public key: the first 16 hex
// digits of the SHA-256 of its DER encoding.
func KeyID(v signature.Verifier) (string, error) {
	pub, err := v.PublicKey()
	if err != nil {
		return "", err
	}
	return keyIDOf(pub)
}

func keyIDOf(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}

// GenerateKeys writes a cosign-compatible encrypted key pair, prefix.key and
// prefix.pub, and refuses to overwrite either.
func GenerateKeys(prefix string, password []byte) (priv, pub string, err error) {
	priv, pub = prefix+".key", prefix+".pub"
	for _, p := range []string{priv, pub} {
		if _, err := os.Stat(p); err == nil {
			return "", "", failure.New(failure.Config, p, errors.New("already exists"), "move it away or choose another --output-prefix")
		}
	}
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return "", "", fmt.Errorf("generating key pair: %w", err)
	}
	if dir := filepath.Dir(priv); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", err
		}
	}
	if err := os.WriteFile(priv, keys.PrivateBytes, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pub, keys.PublicBytes, 0o644); err != nil {
		return "", "", err
	}
	return priv, pub, nil
}

// PendingSigner is a signing key being loaded in the background: decrypting
// a cosign key (scrypt) takes about a fifth of a second of CPU, which
// promote spends verifying and the Packer post-processor building.
type PendingSigner struct {
	done chan struct{}
	sv   signature.SignerVerifier
	err  error
}

// LoadSignerAsync starts load and returns at once.
func LoadSignerAsync(load func() (signature.SignerVerifier, error)) *PendingSigner {
	s := &PendingSigner{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.sv, s.err = load()
	}()
	return s
}

// ReadySigner wraps a signer that is already loaded.
func ReadySigner(sv signature.SignerVerifier) *PendingSigner {
	s := &PendingSigner{done: make(chan struct{}), sv: sv}
	close(s.done)
	return s
}

// Get waits for the key.
func (s *PendingSigner) Get(ctx context.Context) (signature.SignerVerifier, error) {
	select {
	case <-s.done:
		return s.sv, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
