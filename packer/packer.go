// Package packer is the Builder for machine images: it installs bakery's
// Packer plugin, runs the real packer binary on a target's template (packer
// build, which checks the template first) and reads back the result. The
// digest is born inside packer, in the bakery post-processor
// (packer/plugin/postprocessor), which pushes the machine-image record and
// publishes it with the same code as a container image (pipeline.Publish).
// The protocol between the two is the environment variables of internal/env
// that Build sets, and one JSON line of pipeline.Built per build in the file
// named by BAKERY_PACKER_RESULT.
package packer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bakeryhq/bakery/attest"
	"github.com/bakeryhq/bakery/builders"
	"github.com/bakeryhq/bakery/internal/config"
	bakeryenv "github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/internal/progress"
	"github.com/bakeryhq/bakery/pipeline"
)

// PluginSource is the plugin's address in required_plugins.
const PluginSource = "github.com/bakeryhq/bakery"

// Builder runs packer for type: packer targets.
type Builder struct {
	// NoAttest passes `bakery build --no-attest` on to the post-processor.
	NoAttest bool

	packer, plugin, pluginDir string
	configFile                string
	version                   string
	progress                  progress.Streamer

	mu        sync.Mutex
	published map[string]*attest.Attached
	install   sync.Once
	instErr   error
}

var (
	_ builders.Builder        = (*Builder)(nil)
	_ pipeline.SelfPublishing = (*Builder)(nil)
)

// New finds packer and the plugin. cfg.File is handed to the post-processor,
// which loads the same configuration inside packer.
func New(cfg *config.Config, p progress.Streamer) (*Builder, error) {
	s := cfg.Builder.Packer
	b := &Builder{configFile: cfg.File, progress: p, published: map[string]*attest.Attached{}}
	var err error
	if b.packer, err = lookPath(s.Binary, "packer", "builder.packer.binary",
		"install packer (make up builds it into .bakery/packer) or set builder.packer.binary"); err != nil {
		return nil, err
	}
	if b.plugin, err = lookPath(s.Plugin, "packer-plugin-bakery", "builder.packer.plugin",
		"build it (make build puts it next to bin/bakery) or set builder.packer.plugin"); err != nil {
		return nil, err
	}
	b.pluginDir = s.PluginDir
	if b.pluginDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, failure.New(failure.Config, "builder.packer.plugin_dir", err, "set it")
		}
		b.pluginDir = filepath.Join(dir, "bakery", "packer-plugins")
	}
	// CHECKPOINT_DISABLE (b.env): packer version otherwise asks HashiCorp's
	// checkpoint service for a newer release, a DNS lookup and a request
	// that offline machines wait on (about 0.3 s here).
	cmd := exec.Command(b.packer, "version")
	cmd.Env = b.env()
	out, err := cmd.Output()
	if err != nil {
		return nil, failure.New(failure.Config, b.packer, fmt.Errorf("packer version: %w", err), "check builder.packer.binary")
	}
	b.version = packerVersion(out)
	return b, nil
}

// packerVersion reads "Packer v1.12.0" (the first line of packer version).
func packerVersion(out []byte) string {
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != "Packer" {
		return "unknown"
	}
	return strings.TrimPrefix(f[1], "v")
}

// lookPath resolves a configured tool, or finds def next to bakery's own
// executable, then on PATH.
func lookPath(configured, def, key, hint string) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", failure.New(failure.Config, key, err, hint)
		}
		return filepath.Abs(p)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), def)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(def)
	if err != nil {
		return "", failure.New(failure.Config, def, errors.New("not found next to bakery or on PATH"), hint)
	}
	return filepath.Abs(p)
}

// ensurePlugin installs the plugin into the plugin directory, offline, from
// the local binary (packer plugins install --path), once per Builder, and
// only when the binary changed since the last install: installing copies and
// hashes the whole binary and runs it (about a second). The stamp records
// the binary's path, size and modification time and packer's path; packer
// itself checks the installed copy against its SHA256SUM when it loads it.
func (b *Builder) ensurePlugin(ctx context.Context) error {
	b.install.Do(func() {
		if err := os.MkdirAll(b.pluginDir, 0o755); err != nil {
			b.instErr = err
			return
		}
		stampFile := filepath.Join(b.pluginDir, ".bakery-installed")
		stamp, err := b.pluginStamp()
		if err == nil && b.installed(stampFile, stamp) {
			return
		}
		cmd := exec.CommandContext(ctx, b.packer, "plugins", "install", "--path", b.plugin, PluginSource)
		cmd.Env = b.env()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.instErr = failure.New(failure.Config, b.plugin,
				fmt.Errorf("packer plugins install --path: %w: %s", err, lastLines(out, 3)),
				"rebuild the plugin with make build")
			return
		}
		if stamp != "" {
			_ = os.WriteFile(stampFile, []byte(stamp), 0o644) // a lost stamp only means installing again
		}
	})
	return b.instErr
}

// pluginStamp names the plugin binary's state as installed by packer.
func (b *Builder) pluginStamp() (string, error) {
	fi, err := os.Stat(b.plugin)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s\n%d\n%d\n%s\n", b.plugin, fi.Size(), fi.ModTime().UnixNano(), b.packer), nil
}

// installed reports whether the stamp of the last install is stamp and the
// installed plugin and its checksum file are still there.
func (b *Builder) installed(stampFile, stamp string) bool {
	got, err := os.ReadFile(stampFile)
	if err != nil || string(got) != stamp {
		return false
	}
	sums, _ := filepath.Glob(filepath.Join(b.pluginDir, filepath.FromSlash(PluginSource), "packer-plugin-bakery_*_SHA256SUM"))
	for _, sum := range sums {
		if _, err := os.Stat(strings.TrimSuffix(sum, "_SHA256SUM")); err == nil {
			return true
		}
	}
	return false
}

func (b *Builder) env() []string {
	return append(os.Environ(), "PACKER_PLUGIN_PATH="+b.pluginDir, "CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1")
}

// Build runs packer build and returns the record the bakery post-processor
// pushed; a template packer refuses is a config error (exit 2). Any failure leaves nothing tagged: the
// post-processor tags only after a record is complete, and it runs last.
func (b *Builder) Build(ctx context.Context, req builders.Request) (builders.Result, error) {
	t := req.Target
	subj := fmt.Sprintf("target %q", t.Name)
	tmpl := t.Template
	if !filepath.IsAbs(tmpl) {
		tmpl = filepath.Join(req.Dir, tmpl)
	}
	if _, err := os.Stat(tmpl); err != nil {
		return builders.Result{}, failure.New(failure.Config, subj, fmt.Errorf("template: %w", err), "fix targets."+t.Name+".template")
	}
	if err := b.ensurePlugin(ctx); err != nil {
		return builders.Result{}, err
	}
	resultFile, err := os.CreateTemp("", "bakery-packer-*.jsonl")
	if err != nil {
		return builders.Result{}, err
	}
	resultFile.Close()
	defer os.Remove(resultFile.Name())
	configFile, _ := filepath.Abs(b.configFile)
	env := append(b.env(),
		bakeryenv.Config.Set(configFile),
		bakeryenv.Target.Set(t.Name),
		bakeryenv.PackerResult.Set(resultFile.Name()),
		bakeryenv.PackerTemplate.Set(tmpl),
		bakeryenv.PackerVersion.Set(b.version),
	)
	if b.NoAttest {
		env = append(env, bakeryenv.PackerNoAttest.Set("1"))
	}
	args := b.args(t, tmpl)

	// packer runs in the config file's directory, like the rest of bakery:
	// relative paths in variables, and the builds' outputs, are there. There
	// is no separate `packer validate`: packer build checks the template
	// before it starts any build, and its output tells the two apart.
	env = append(env, bakeryenv.PackerStarted.Set(time.Now().UTC().Format(time.RFC3339Nano)))
	step := progress.LoggedStep(b.progress, t.Name, "packer build "+filepath.Base(tmpl))
	out, err := b.run(ctx, req.Dir, env, append([]string{"build", "-force", "-color=false"}, args...), step)
	step.Done(err)
	switch {
	case err != nil && templateError(out):
		return builders.Result{}, templateFailure(t.Name, t.Template, out)
	case err != nil:
		msg := packerError(out)
		hint := "nothing was recorded; packer's last lines are above (--progress plain shows all)"
		if strings.Contains(msg, "FAILED result is recorded") {
			// The bakery post-processor pushed the record and recorded its
			// suites' results before it failed; no tag moved.
			hint = "no tag moved; the machine-image record is in the first environment's repository with its FAILED test result"
		}
		return builders.Result{}, failure.New(failure.Build, subj, fmt.Errorf("packer build failed: %s", msg), hint)
	}
	return b.readResult(subj, resultFile.Name())
}

// templateFailure is the config error of a packer build that stopped before
// building: a variable's value from targets.NAME.variables that packer
// refused is blamed on that variable, anything else on the template.
func templateFailure(target, template string, out []byte) error {
	subj := fmt.Sprintf("target %q", target)
	if name, msg, ok := variableError(out); ok {
		return failure.New(failure.Config, subj, fmt.Errorf("variable %q: %s", name, msg),
			"fix targets."+target+".variables."+name+" in bakery.yaml")
	}
	return failure.New(failure.Config, subj,
		fmt.Errorf("template %s does not validate: %s", template, packerError(out)), "fix the template; packer validate shows the same")
}

// variableDiagnostics are packer's summaries of a refused -var, with how
// each names the variable (the text before it, up to the quote or space
// after it) and what bakery says instead of the summary.
var variableDiagnostics = []struct{ summary, before, after, says string }{
	{"Invalid value for cmd variable", "<value for var.", " ", "its value is refused: "},
	{"Invalid argument value for -var variable", "The received arg value for ", " ", "its value is refused: "},
	{"Undefined -var variable", `A "`, `"`, "set in bakery.yaml but not declared in the template (no variable block)"},
	{"Unset variable ", `Unset variable "`, `"`, "not set: the template declares it with no default"},
}

// variableError reads packer's output for a refused -var value: the
// variable's name and, on one line, packer's detail.
func variableError(out []byte) (name, msg string, ok bool) {
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "Error: ") {
			continue
		}
		var detail []string
		for _, d := range lines[i+1:] {
			if strings.HasPrefix(d, "Error: ") {
				break
			}
			if d = strings.TrimSpace(d); d != "" && d != "(source code not available)" {
				detail = append(detail, d)
			}
		}
		text := l + " " + strings.Join(detail, " ")
		for _, v := range variableDiagnostics {
			if !strings.HasPrefix(l, "Error: "+v.summary) {
				continue
			}
			if _, rest, found := strings.Cut(text, v.before); found {
				name, _, _ = strings.Cut(rest, v.after)
				name = strings.TrimSuffix(name, ">")
			}
			if !strings.HasSuffix(v.says, ": ") {
				return name, v.says, name != ""
			}
			var kept []string
			for _, d := range detail {
				if !strings.HasPrefix(d, "on <value for var.") {
					kept = append(kept, d)
				}
			}
			return name, v.says + strings.Join(kept, " "), name != ""
		}
	}
	return "", "", false
}

// templateError says a failed packer build stopped on the template itself:
// its output has packer's diagnostics ("Error: ...") and no build ran (no
// "==> " step, no "Build '...' errored", no "--> " summary), as when
// `packer validate` fails.
func templateError(out []byte) bool {
	diagnostics := false
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "==> "), strings.HasPrefix(l, "--> "), strings.HasPrefix(l, "Build '"):
			return false
		case strings.HasPrefix(l, "Error: "):
			diagnostics = true
		}
	}
	return diagnostics
}

// args are the template selection and variables of packer build.
func (b *Builder) args(t *config.Target, tmpl string) []string {
	var args []string
	keys := make([]string, 0, len(t.Variables))
	for k := range t.Variables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-var", k+"="+t.Variables[k])
	}
	if len(t.Only) > 0 {
		args = append(args, "-only="+strings.Join(t.Only, ","))
	}
	if len(t.Except) > 0 {
		args = append(args, "-except="+strings.Join(t.Except, ","))
	}
	return append(args, tmpl)
}

// run runs packer in dir, streaming its output into w, and returns the output.
func (b *Builder) run(ctx context.Context, dir string, env, args []string, w io.Writer) ([]byte, error) {
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, b.packer, args...)
	cmd.Dir, cmd.Env = dir, env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if w == nil {
		w = io.Discard
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := append(sc.Bytes(), '\n')
			buf.Write(line)
			_, _ = w.Write(line)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	return buf.Bytes(), err
}

// readResult reads what the post-processor published: exactly one machine image.
func (b *Builder) readResult(subj, path string) (builders.Result, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return builders.Result{}, err
	}
	var recs []pipeline.Built
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r pipeline.Built
		if err := json.Unmarshal(line, &r); err != nil {
			return builders.Result{}, fmt.Errorf("%s: reading the post-processor's result: %w", subj, err)
		}
		recs = append(recs, r)
	}
	switch len(recs) {
	case 0:
		return builders.Result{}, failure.New(failure.Config, subj, errors.New("packer build succeeded but recorded nothing"),
			`add post-processor "bakery" {} to the template's build block`)
	case 1:
	default:
		return builders.Result{}, failure.New(failure.Config, subj, fmt.Errorf("the template recorded %d machine images", len(recs)),
			"select one build with the target's only/except")
	}
	b.mu.Lock()
	b.published[recs[0].Reference()] = recs[0].Attestation
	b.mu.Unlock()
	return recs[0].Result, nil
}

// Published returns the attestation the post-processor made for res: the
// pipeline does not attest, receipt or tag it again.
func (b *Builder) Published(res builders.Result) (*attest.Attached, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	att, ok := b.published[res.Reference()]
	return att, ok
}

// packerError picks packer's own error lines out of its output: each
// "Error: title" with its location and explanation (HCL diagnostics), and
// each failed build with its causes.
func packerError(out []byte) string {
	var errs []string
	lines := strings.Split(string(out), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(l, "Error: "):
			msg := strings.TrimPrefix(l, "Error: ")
			for j := i + 1; j < len(lines) && !strings.HasPrefix(lines[j], "Error: "); j++ {
				d := strings.TrimSpace(lines[j])
				switch {
				case strings.HasPrefix(d, "on ") && strings.Contains(d, " line "):
					msg += " (" + strings.TrimSuffix(strings.TrimPrefix(d, "on "), ":") + ")"
				case d != "" && d != "(source code not available)" && !strings.HasPrefix(lines[j], " "):
					msg += ": " + d
				}
			}
			errs = append(errs, msg)
		case strings.HasPrefix(l, "--> "):
			msg := strings.TrimPrefix(l, "--> ")
			var causes []string
			for j := i + 1; j < len(lines); j++ {
				d := strings.TrimSpace(lines[j])
				if strings.HasPrefix(d, "* ") {
					causes = append(causes, strings.TrimPrefix(d, "* "))
				} else if d != "" {
					break
				}
			}
			if len(causes) > 0 {
				build, _, _ := strings.Cut(msg, ": ")
				msg = build + ": " + strings.Join(causes, "; ")
			}
			errs = append(errs, msg)
		}
	}
	if len(errs) == 0 {
		return lastLines(out, 2)
	}
	return strings.Join(errs, "; ")
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
