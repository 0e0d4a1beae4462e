package config

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	"github.com/bakeryhq/bakery/internal/env"
	"github.com/bakeryhq/bakery/internal/failure"
)

// EnvPrefix prefixes every environment variable that overrides a setting:
// builder.max_parallel is BAKERY_BUILDER_MAX_PARALLEL, targets.web.context is
// BAKERY_TARGETS_WEB_CONTEXT, environments.dev.repository is
// BAKERY_ENVIRONMENTS_DEV_REPOSITORY. The config file itself comes from
// BAKERY_CONFIG.
const EnvPrefix = "BAKERY"

// flagKeyAnnotation marks a flag that overrides a setting: its value is
// the setting's key (builder.address).
const flagKeyAnnotation = "bakery/config-key"

// AddFlags defines the flags of a command that builds, which override
// settings of the config file: --builder (builder.address) and --parallel
// (builder.max_parallel), with --max-parallel kept as a deprecated spelling
// of --parallel for one release.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("builder", "", "buildkitd address, unix:///path or tcp://host:port (builder.address, BAKERY_BUILDER_ADDRESS)")
	fs.Int("parallel", 0, "how many targets build at once (builder.max_parallel, BAKERY_BUILDER_MAX_PARALLEL)")
	fs.Int("max-parallel", 0, "how many targets build at once")
	_ = fs.MarkDeprecated("max-parallel", "use --parallel")
	AddBuilderFlag(fs)
	_ = fs.SetAnnotation("parallel", flagKeyAnnotation, []string{"builder.max_parallel"})
	_ = fs.SetAnnotation("max-parallel", flagKeyAnnotation, []string{"builder.max_parallel"})
}

// AddBuilderFlag marks --builder, defined by the caller or by AddFlags, as
// the override of builder.address; it defines it when it is not there.
func AddBuilderFlag(fs *pflag.FlagSet) {
	if fs.Lookup("builder") == nil {
		fs.String("builder", "", "buildkitd address, unix:///path or tcp://host:port (builder.address, BAKERY_BUILDER_ADDRESS)")
	}
	_ = fs.SetAnnotation("builder", flagKeyAnnotation, []string{"builder.address"})
}

// bindFlags binds each flag that overrides a setting; of two spellings of
// one setting, the one given on the command line wins.
func bindFlags(v *viper.Viper, fs *pflag.FlagSet) error {
	var err error
	bound := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		keys := f.Annotations[flagKeyAnnotation]
		if len(keys) != 1 || err != nil || (bound[keys[0]] && !f.Changed) {
			return
		}
		if e := v.BindPFlag(keys[0], f); e != nil {
			err = failure.New(failure.Internal, "flag --"+f.Name, e, "")
		}
		bound[keys[0]] = bound[keys[0]] || f.Changed
	})
	return err
}

// Options says where Load finds the config and its overrides.
type Options struct {
	// File is the config file; empty means $BAKERY_CONFIG, then ./bakery.yaml.
	File string
	// Flags holds the flags defined by AddFlags; only changed flags override.
	Flags *pflag.FlagSet
}

// Load reads, overrides, defaults and validates the config. Every error it
// returns is of class failure.Config and names the file, the key and what is
// expected.
func Load(opts Options) (*Config, error) {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	v.SetConfigType("yaml")
	if opts.Flags != nil {
		if err := bindFlags(v, opts.Flags); err != nil {
			return nil, err
		}
	}

	file := opts.File
	if file == "" {
		file = env.Getenv(env.Config)
	}
	if file == "" {
		file = DefaultFile
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		hint := "pass --config FILE or set BAKERY_CONFIG; docs/config.md has a complete example"
		if errors.Is(err, fs.ErrNotExist) {
			return nil, failure.New(failure.Config, file, errors.New("config file not found"), hint)
		}
		return nil, failure.New(failure.Config, file, err, hint)
	}
	if err := v.ReadConfig(bytes.NewReader(raw)); err != nil {
		return nil, failure.New(failure.Config, file, fmt.Errorf("not valid YAML: %w", err), "fix the syntax")
	}

	cfg, err := decodeStrict(file, raw)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, failure.New(failure.Config, file, err, "")
	}
	cfg.File, cfg.Dir = file, filepath.Dir(abs)
	cfg.Builder.fileAddress = cfg.Builder.Address
	if err := overlay(v, reflect.ValueOf(cfg).Elem(), ""); err != nil {
		return nil, failure.New(failure.Config, file, err, "fix the environment variable or flag")
	}
	cfg.applyDefaults()
	if err := cfg.validate(newLines(file, raw)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeStrict decodes raw into a Config, reporting every unknown key and
// every wrong type with its file:line and key path.
func decodeStrict(file string, raw []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, failure.New(failure.Config, file, err, "fix the YAML syntax")
	}
	cfg := &Config{}
	if len(root.Content) == 0 {
		return nil, failure.New(failure.Config, file, errors.New("the file is empty"), "start from the example in docs/config.md")
	}
	var errs []error
	checkKeys(file, root.Content[0], reflect.TypeOf(cfg).Elem(), "", &errs)
	lines := newLines(file, raw)
	if err := root.Content[0].Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, failure.New(failure.Config, file, err, "")
		}
		for _, msg := range te.Errors {
			errs = append(errs, lines.typeError(msg))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// A target with nothing under it ("web:") decodes as nil; it is an
	// empty target, which validate reports.
	for name, t := range cfg.Targets {
		if t == nil {
			t = &Target{}
			cfg.Targets[name] = t
		}
		t.Name = name
	}
	return cfg, nil
}

// checkKeys walks the YAML tree next to the Go type and reports keys the
// schema does not have, listing the keys it does.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		fields := map[string]reflect.Type{}
		var known []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = t.Field(i).Type
			known = append(known, tag)
		}
		sort.Strings(known)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, failure.New(failure.Config, fmt.Sprintf("%s:%d", file, k.Line),
					fmt.Errorf("%s: unknown key", join(path, k.Value)),
					"expected one of: "+strings.Join(known, ", ")))
				continue
			}
			checkKeys(file, n.Content[i+1], ft, join(path, k.Value), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(file, n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			checkKeys(file, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// envName is the environment variable that overrides the setting at path.
func envName(path string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(path))
}

// overlay replaces every scalar setting that viper has a value for (a changed
// flag, an environment variable, or the file itself) with viper's value, so
// that flags beat the environment and the environment beats the file.
// Environments are addressed by name: environments.dev.repository.
func overlay(v *viper.Viper, val reflect.Value, path string) error {
	switch val.Kind() {
	case reflect.Pointer:
		if val.IsNil() {
			// A scalar the file left unset (retention.rollback_window)
			// may still come from its variable or flag.
			switch k := val.Type().Elem().Kind(); {
			case k != reflect.Int && k != reflect.Bool && k != reflect.String:
				return nil
			case !val.CanSet():
				return nil
			}
			if _, ok := lookup(v, path); !ok {
				return nil
			}
			val.Set(reflect.New(val.Type().Elem()))
		}
		return overlay(v, val.Elem(), path)
	case reflect.Struct:
		t := val.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			if err := overlay(v, val.Field(i), join(path, tag)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if val.Type().Elem().Kind() == reflect.Interface {
			return nil // reserved sections
		}
		for _, k := range val.MapKeys() {
			elem := val.MapIndex(k)
			if elem.Kind() == reflect.String {
				if s, ok := lookup(v, join(path, k.String())); ok {
					val.SetMapIndex(k, reflect.ValueOf(s))
				}
				continue
			}
			if err := overlay(v, elem, join(path, k.String())); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if val.Type().Elem().Kind() == reflect.String {
			if raw := v.Get(path); v.IsSet(path) && raw != nil {
				val.Set(reflect.ValueOf(toStrings(raw)))
			}
			return nil
		}
		for i := 0; i < val.Len(); i++ {
			elem := val.Index(i)
			name := elem.FieldByName("Name")
			if !name.IsValid() || name.String() == "" {
				continue
			}
			if err := overlay(v, elem, join(path, name.String())); err != nil {
				return err
			}
		}
	case reflect.String, reflect.Int, reflect.Bool:
		return overlayScalar(v, val, path)
	}
	return nil
}

// overlayScalar sets a string, int or bool setting from its override.
func overlayScalar(v *viper.Viper, val reflect.Value, path string) error {
	s, ok := lookup(v, path)
	if !ok {
		return nil
	}
	switch val.Kind() {
	case reflect.String:
		val.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%s (%s): %q is not a whole number", path, envName(path), s)
		}
		val.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%s (%s): %q is not true or false", path, envName(path), s)
		}
		val.SetBool(b)
	}
	return nil
}

// lookup returns viper's value for path as a string, if it has a non-empty one.
func lookup(v *viper.Viper, path string) (string, bool) {
	if !v.IsSet(path) {
		return "", false
	}
	raw := v.Get(path)
	switch raw.(type) {
	case nil, map[string]any, []any:
		return "", false
	}
	s := fmt.Sprint(raw)
	return s, s != ""
}

// toStrings converts a list from the file or a comma-separated value from the
// environment or a flag into a string list.
func toStrings(raw any) []string {
	var out []string
	switch x := raw.(type) {
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	case []string:
		out = append(out, x...)
	default:
		// Comma-separated, with CSV quoting for items that hold commas
		// (cache entries do): "type=registry,ref=host/cache",host/other
		r := csv.NewReader(strings.NewReader(fmt.Sprint(x)))
		r.TrimLeadingSpace = true
		fields, err := r.Read()
		if err != nil {
			fields = strings.Split(fmt.Sprint(x), ",")
		}
		for _, e := range fields {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// lines maps key paths to their line in the file, for error messages.
type lines struct {
	file   string
	byPath map[string]int
	byLine map[int]string
}

func newLines(file string, raw []byte) *lines {
	l := &lines{file: file, byPath: map[string]int{}, byLine: map[int]string{}}
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) == nil && len(root.Content) > 0 {
		l.walk(root.Content[0], "")
	}
	return l
}

func (l *lines) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			l.byPath[p] = k.Line
			if _, ok := l.byLine[val.Line]; !ok || val.Kind == yaml.ScalarNode {
				l.byLine[val.Line] = p
			}
			l.walk(val, p)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if nameNode := mapValue(item, "name"); nameNode != "" {
				l.byPath[join(path, nameNode)] = item.Line
			}
			l.byPath[p] = item.Line
			if _, ok := l.byLine[item.Line]; !ok || item.Kind == yaml.ScalarNode {
				l.byLine[item.Line] = p
			}
			l.walk(item, p)
		}
	}
}

func mapValue(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// at names the place of path: file:line when the key is in the file, else the file.
func (l *lines) at(path string) string {
	for p := path; p != ""; {
		if n, ok := l.byPath[p]; ok {
			return fmt.Sprintf("%s:%d", l.file, n)
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return l.file
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// typeError turns one of yaml.v3's "line N: cannot unmarshal ..." messages into
// a classified error that names the key.
func (l *lines) typeError(msg string) error {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return failure.New(failure.Config, l.file, errors.New(msg), "")
	}
	n, _ := strconv.Atoi(m[1])
	detail := strings.NewReplacer("!!str", "text", "!!int", "number", "!!bool", "boolean",
		"!!map", "mapping", "!!seq", "list", "!!float", "number").Replace(m[2])
	key := l.byLine[n]
	if key != "" {
		detail = key + ": " + detail
	}
	return failure.New(failure.Config, fmt.Sprintf("%s:%d", l.file, n), errors.New(detail), "see docs/config.md for the expected type")
}

// Present reports whether there is a config file to load: --config,
// BAKERY_CONFIG, or ./bakery.yaml.
func Present(opts Options) bool {
	if opts.File != "" || env.Getenv(env.Config) != "" {
		return true
	}
	_, err := os.Stat(DefaultFile)
	return !errors.Is(err, fs.ErrNotExist)
}

// VerificationKeys returns verification.keys. With a config file (--config,
// BAKERY_CONFIG or ./bakery.yaml) it is read from there, with overrides;
// without one, from BAKERY_VERIFICATION_KEYS alone, so that verifying an
// image needs no project checkout.
func VerificationKeys(opts Options) ([]string, error) {
	if !Present(opts) {
		keys := env.Getenv(env.VerificationKeys)
		if keys == "" {
			return nil, nil
		}
		return toStrings(keys), nil
	}
	cfg, err := Load(opts)
	if err != nil {
		return nil, err
	}
	return cfg.Verification.Keys, nil
}

// PluginTarget is the config file and target a Packer plugin part (the
// bakery post-processor, the bakery-test provisioner) works for: each as
// set in the template, else as `bakery build` passed it through the
// environment, else ./bakery.yaml and the build's name.
func PluginTarget(file, target, buildName string) (string, string) {
	return cmp.Or(file, env.Getenv(env.Config), DefaultFile), cmp.Or(target, env.Getenv(env.Target), buildName)
}
