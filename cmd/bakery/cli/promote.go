package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakeryhq/bakery/deploy/gitops"
	"github.com/bakeryhq/bakery/internal/failure"
	"github.com/bakeryhq/bakery/pipeline"
	"github.com/bakeryhq/bakery/promote"
)

type promoteOptions struct {
	req          promote.Request
	all          bool
	metadataFile string
	failFast     bool
	parallel     int
	dryRun       bool
	ci           ciReport
	wait         waitOptions
	// admissionDir is where to rewrite the admission policies afterwards.
	admissionDir string
}

// promoteLong is promote --help.
const promoteLong = `Promote each TARGET's digest into the next environment (all targets when
none is named). For each one, bakery
  1. verifies the digest as bakery verify does;
  2. evaluates the destination's policies (exit 5 and nothing copied on a denial);
  3. copies the image by digest, with every platform, signature and
     attestation, to the destination's repository (blobs already there are
     skipped, blobs in the same registry are mounted);
  4. fails closed if the source tag moved meanwhile;
  5. verifies the copy, signs a receipt (SLSA verification summary) onto it,
  6. and only then moves the destination's tag.
A failure leaves the destination's tag where it was; re-running completes
the promotion.

A machine image promoted into an environment whose aws.rollout names launch
templates for it then replaces its instances: each template gets a version
with the environment's AMI (made the default when set_default), and each
Auto Scaling group an instance refresh onto it (min_healthy_percentage,
auto_rollback). Templates and groups are checked before anything is copied
(a missing one: exit 2, nothing promoted); the rollout runs after the receipt
and the tag, so its failure (exit 6) leaves the promotion standing, and
promoting the same --digest again completes it. --wait waits for the refreshes, printing progress on
stderr; one that fails or rolls back exits 8.

Which digest, from where, to where:
  --to ENV            from the environment before ENV (or --from) into ENV; the
                      digest is what the source tag points at, resolved once.
                      With several targets, a target whose source holds no
                      receipted digest, or whose ENV holds a newer one, is skipped.
  (no --to)           each target moves from the environment it was last built
                      or promoted into (its newest receipt) to the next one.
  --digest DIGEST     this digest of one TARGET, which must be in the source's repository
                      (a unique prefix of at least 12 hex digits will do).
  --metadata-file F   exactly the digests bakery build --metadata-file F produced,
                      by digest even if tags moved since: from the environment
                      they were built into to the next one, or with --to ENV
                      from the environment before ENV (or --from), which must
                      hold a receipt of that very digest; so one file drives
                      dev → staging → prod.

A rollback holds: a digest rolled back out of an environment is refused
there (exit 5, naming the rollback) unless named with --digest and a
--reason; that promotion ends the hold. --dry-run (or --plan) prints what
would move where and why, and changes nothing.

GitOps write-back: --write PATH (repeatable, or comma-separated) pins the
promoted repository@digest in PATH, a deploy file bakery.yaml declares for
the target in the destination (environments[].deploy.files: a kustomization,
Helm values, a Kubernetes manifest, an ECS task definition, Terraform),
keeping its comments and formatting. Each file is read before anything is
copied (a file that does not parse, or lacks its declared image, stops the
promotion: exit 2, nothing promoted) and written only after the receipt is
signed and the tag settled, atomically; a file already pinned is not
rewritten. A PATH declared for no target being moved is exit 2 before
anything happens. With --dry-run, the diff of each file is printed instead.

Several targets are promoted concurrently (at most --parallel at once); one
target's failure does not stop the others unless --fail-fast. A summary lists
each target's outcome, and the exit code is the highest of the failures'.

` + countsHelp + `
A promotion copies attestations and receipts as layers of one cosign
image, so it counts them together ("N attestation and receipt layers").`

const promoteExample = `  # what CI runs: build, then move what was built one environment on
  bakery build --metadata-file build.json && bakery promote --metadata-file build.json

  # every target one environment on from where it was last put
  bakery promote

  # every target whose staging digest is newer than prod's
  bakery promote --all --to prod -o json

  # one target, one digest
  bakery promote golden-base --to staging --digest sha256:…

  # one build file, every hop
  bakery promote --metadata-file build.json --to staging
  bakery promote --metadata-file build.json --to prod

  # what would happen, and why
  bakery promote --dry-run

  # promote to prod and pin the digest in the prod overlay and the ECS task definition
  bakery promote app --to prod --write deploy/prod/kustomization.yaml,deploy/prod/taskdef.json

  # the diff --write would make, changing nothing
  bakery promote app --to prod --write deploy/prod/kustomization.yaml --dry-run

  # bring back a digest a rollback took out of prod
  bakery promote app --to prod --digest sha256:… --reason "fixed by config change 42"`

func newPromote(ro *rootOptions) *cobra.Command {
	o := &promoteOptions{}
	cmd := &cobra.Command{
		Use:     "promote [TARGET...] [--to ENV] [--from ENV | --digest DIGEST | --metadata-file FILE]",
		Short:   "Move verified digests to the next environment when their policies pass",
		Long:    promoteLong,
		Example: promoteExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(ro, args); err != nil {
				return err
			}
			g, err := ro.gate(cmd)
			if err != nil {
				return err
			}
			p := g.promoter(cmd.Context(), ro.version)
			o.req.Wait = o.wait.options(cmd)
			if o.req.Digest != "" {
				if o.req.Digest, err = p.ResolveDigest(cmd.Context(), promote.Request{Target: args[0], To: o.req.To, Digest: o.req.Digest}); err != nil {
					return err
				}
			}
			if o.dryRun {
				return o.preview(cmd, ro, p, g, args)
			}
			if len(args) == 1 && o.req.To != "" {
				o.req.Target = args[0]
				return o.promoteOne(cmd, ro, p)
			}
			return o.promoteMany(cmd, ro, p, g, args)
		},
	}
	o.flags(cmd)
	addActorFlag(cmd, ro)
	addKeyFlag(cmd, ro)
	return cmd
}

func (o *promoteOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.req.To, "to", "", "environment to promote into (default: each target's next environment)")
	f.StringVar(&o.req.From, "from", "", "environment to promote from (default: the one before --to)")
	f.StringVar(&o.req.Digest, "digest", "", "promote this digest of TARGET (it must be in the source environment's repository)")
	f.StringVar(&o.req.Reason, "reason", "", "why, recorded in the receipt; required with --digest for a digest a rollback holds out of --to")
	f.BoolVar(&o.dryRun, "dry-run", false, "print what would move where and why, and change nothing")
	f.BoolVar(&o.dryRun, "plan", false, "the same as --dry-run (with -o json, the plan as JSON)")
	f.BoolVar(&o.all, "all", false, "promote every target (the default when no TARGET is named)")
	f.StringVar(&o.metadataFile, "metadata-file", "", "promote exactly the digests in this bakery build --metadata-file")
	f.BoolVar(&o.failFast, "fail-fast", false, "start no further target after the first failure")
	f.IntVar(&o.parallel, "parallel", 4, "targets promoted at once")
	admissionFlag(cmd, &o.admissionDir)
	f.StringSliceVar(&o.req.Write, "write", nil, "pin the promoted repository@digest in this deploy file declared in bakery.yaml (repeatable, comma-separated), after the receipt is signed")
	o.ci.addFlags(cmd)
	o.wait.addFlags(cmd)
}

// promoteLines is what a promotion tells CI: each target's outcome, with a
// line per test result the decision saw (testLines).
func promoteLines(outcomes []promote.Outcome) []ciLine {
	var lines []ciLine
	for _, oc := range outcomes {
		l := ciLine{Target: oc.Step.Target, Outcome: outcomeOf(oc), Failed: oc.Err != nil}
		switch {
		case oc.Err != nil:
			l.Detail = oneLine(oc.Err)
		case oc.Step.Skip != "":
			l.Detail = oc.Step.Skip
		case oc.Result != nil:
			l.Detail = fmt.Sprintf("%s → %s: %s", dash(oc.Result.From), oc.Result.Environment, oc.Result.Digest)
		}
		lines = append(lines, l)
		if oc.Result != nil {
			lines = append(lines, testLines(oc.Step.Target, oc.Result.Tests)...)
		}
	}
	return lines
}

func (o *promoteOptions) validate(ro *rootOptions, args []string) error {
	if err := ro.validate(); err != nil {
		return err
	}
	switch {
	case o.req.From != "" && o.req.Digest != "":
		return usageError("use --from or --digest, not both")
	case o.req.Digest != "" && (len(args) != 1 || o.req.To == ""):
		return usageError("--digest promotes one digest: name exactly one TARGET and --to ENV")
	case o.req.From != "" && o.req.To == "":
		return usageError("--from needs --to ENV")
	case o.all && len(args) > 0:
		return usageError("use --all or name targets, not both")
	case o.metadataFile != "" && (len(args) > 0 || o.all || o.req.Digest != ""):
		return usageError("--metadata-file names the targets and digests: use it without TARGET, --all or --digest")
	case o.parallel < 1:
		return usageError("--parallel must be at least 1, got %d", o.parallel)
	}
	return o.wait.validate()
}

// promoteOne promotes one target into one environment: the result, or its
// error, as is.
func (o *promoteOptions) promoteOne(cmd *cobra.Command, ro *rootOptions, p *promote.Promoter) error {
	if err := p.CheckWrites([]promote.Step{{Request: o.req}}, o.req.Write); err != nil {
		return err
	}
	res, perr := p.Promote(cmd.Context(), o.req)
	oc := promote.Outcome{Step: promote.Step{Request: o.req}, Result: res, Err: perr}
	if ro.output == "json" {
		// the same shape as several targets': a list of one
		if err := writeJSON(cmd.OutOrStdout(), promotionsJSON([]promote.Outcome{oc})); err != nil {
			return err
		}
	} else if res != nil {
		if err := ro.printResult(cmd.OutOrStdout(), res); err != nil {
			return err
		}
	}
	if err := o.ci.write("bakery promote", promoteLines([]promote.Outcome{oc})); err != nil {
		return err
	}
	if err := rewriteAdmission(cmd, ro, o.admissionDir, movedInto([]promote.Outcome{oc})); err != nil && perr == nil {
		return err
	}
	return perr
}

// movedInto lists the environments outcomes moved a digest into (or found
// it already in), including those whose step failed after its receipt was
// signed (a write-back or rollout error: the tag moved all the same).
func movedInto(outcomes []promote.Outcome) []string {
	var envs []string
	for _, oc := range outcomes {
		if oc.Result != nil && (oc.Err == nil || oc.Result.Receipt) && !slices.Contains(envs, oc.Result.Environment) {
			envs = append(envs, oc.Result.Environment)
		}
	}
	return envs
}

// promoteMany plans a step per target, runs them, prints each outcome as it
// ends and a summary, and returns the worst failure.
func (o *promoteOptions) promoteMany(cmd *cobra.Command, ro *rootOptions, p *promote.Promoter, g *gate, args []string) error {
	ctx := cmd.Context()
	steps, err := o.steps(cmd, p, g, args)
	if err != nil {
		return err
	}
	if err := p.CheckWrites(steps, o.req.Write); err != nil {
		return err
	}
	for i := range steps {
		steps[i].Wait = o.req.Wait
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	outcomes := p.PromoteAll(ctx, steps, o.parallel, o.failFast, func(oc promote.Outcome) {
		if ro.output == "json" {
			return
		}
		switch {
		case oc.Step.Skip != "":
			fmt.Fprintf(stdout, "%s: skipped: %s\n", oc.Step.Target, oc.Step.Skip)
		case oc.Err != nil:
			fmt.Fprintf(stderr, "%s: %s\n", oc.Step.Target, oneLine(oc.Err))
			if oc.Result != nil && oc.Result.Decision != nil && !oc.Result.Decision.Allowed {
				_ = ro.printResult(stdout, oc.Result)
			}
		case oc.Result != nil:
			_ = ro.printResult(stdout, oc.Result)
		}
	})
	if ro.output == "json" {
		if err := writeJSON(stdout, promotionsJSON(outcomes)); err != nil {
			return err
		}
	} else {
		printSummary(stdout, ro.style(stdout), outcomes)
	}
	if err := o.ci.write("bakery promote", promoteLines(outcomes)); err != nil {
		return err
	}
	if err := rewriteAdmission(cmd, ro, o.admissionDir, movedInto(outcomes)); err != nil {
		return err
	}
	worst := promote.Worst(outcomes)
	if worst == nil {
		return nil
	}
	if len(outcomes) == 1 {
		return worst
	}
	var failed []string
	for _, oc := range outcomes {
		if oc.Err != nil {
			failed = append(failed, fmt.Sprintf("%s (%s)", oc.Step.Target, failure.ClassOf(oc.Err)))
		}
	}
	return failure.New(failure.ClassOf(worst), "promote", fmt.Errorf("%d of %d targets failed: %s", len(failed), len(outcomes), strings.Join(failed, ", ")),
		"each target's error is printed above; the exit code is the highest of theirs")
}

// steps plans the promotion: from the metadata file, or of each target
// named (every target when none is); each step writes --write's files.
func (o *promoteOptions) steps(cmd *cobra.Command, p *promote.Promoter, g *gate, args []string) ([]promote.Step, error) {
	steps, err := o.plan(cmd, p, g, args)
	for i := range steps {
		steps[i].Write = o.req.Write
	}
	return steps, err
}

func (o *promoteOptions) plan(cmd *cobra.Command, p *promote.Promoter, g *gate, args []string) ([]promote.Step, error) {
	if o.metadataFile != "" {
		built, err := readBuilt(o.metadataFile)
		if err != nil {
			return nil, err
		}
		return p.PlanBuilt(cmd.Context(), o.metadataFile, built, o.req.From, o.req.To)
	}
	if len(args) == 1 && o.req.To != "" {
		// exactly what promoteOne runs
		return []promote.Step{{Request: o.req}}, nil
	}
	targets := args
	if len(targets) == 0 {
		targets = g.cfg.TargetNames()
	}
	return p.Plan(cmd.Context(), targets, o.req.From, o.req.To, o.parallel)
}

// preview prints what the promotion would do, and why, changing nothing.
func (o *promoteOptions) preview(cmd *cobra.Command, ro *rootOptions, p *promote.Promoter, g *gate, args []string) error {
	if len(args) == 1 && o.req.To != "" {
		o.req.Target = args[0]
	}
	steps, err := o.steps(cmd, p, g, args)
	if err != nil {
		return err
	}
	if err := p.CheckWrites(steps, o.req.Write); err != nil {
		return err
	}
	plan, err := p.Preview(cmd.Context(), steps, o.parallel)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if ro.output == "json" {
		return writeJSON(w, map[string][]promote.Planned{"plan": plan})
	}
	if err := printPlan(w, ro.style(w), plan); err != nil {
		return err
	}
	for _, pl := range plan {
		printWritten(w, pl.Written, true)
	}
	_, err = fmt.Fprintln(w, "dry run: nothing was copied, signed or tagged")
	return err
}

// printPlan prints a row per planned step: in text, short digests (in WHY
// too); with -o wide, in full.
func printPlan(w io.Writer, s style, plan []promote.Planned) error {
	t := newTable("TARGET", "FROM", "TO", "DIGEST", "ACTION", "WHY")
	for _, pl := range plan {
		t.row(pl.Target, dash(pl.From), dash(pl.To), s.digest(pl.Digest), pl.Action, s.digestsIn(oneLine(errors.New(pl.Why))))
	}
	return t.write(w)
}

// readBuilt reads the digests of a bakery build --metadata-file.
func readBuilt(file string) ([]promote.Built, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, failure.New(failure.Config, "--metadata-file", err, "pass the file bakery build --metadata-file wrote")
	}
	// a target that failed to build is an entry with its error: not built,
	// nothing to promote
	var out struct {
		Targets []struct {
			pipeline.Built
			Error string `json:"error"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, failure.New(failure.Config, file, fmt.Errorf("not a bakery build metadata file: %w", err), "pass the file bakery build --metadata-file wrote")
	}
	if len(out.Targets) == 0 {
		return nil, failure.New(failure.Config, file, errors.New("lists no built targets"), "did the build succeed?")
	}
	var built []promote.Built
	for i, t := range out.Targets {
		if t.Error != "" {
			continue
		}
		if t.Target == "" || t.Repository == "" || t.Digest.Hex == "" {
			return nil, failure.New(failure.Config, file, fmt.Errorf("entry %d has no target, repository or digest", i), "pass the file bakery build --metadata-file wrote")
		}
		built = append(built, promote.Built{Target: t.Target, Repository: t.Repository, Digest: t.Digest.String()})
	}
	if len(built) == 0 {
		return nil, failure.New(failure.Config, file, errors.New("lists no built targets, only failed ones"), "did the build succeed?")
	}
	return built, nil
}

// outcomeOf names what a step came to.
func outcomeOf(oc promote.Outcome) string {
	switch {
	case oc.Step.Skip != "":
		return "skipped"
	case oc.NotRun:
		return "not run (--fail-fast)"
	case oc.Err != nil && failure.ClassOf(oc.Err) == failure.Policy:
		return "denied"
	case oc.Err != nil:
		return "failed (" + failure.ClassOf(oc.Err).String() + ")"
	case oc.Result != nil && oc.Result.AlreadyPromoted:
		return "already promoted"
	default:
		return "promoted"
	}
}

// printSummary prints a row per target's outcome, failures in colour.
func printSummary(w io.Writer, s style, outcomes []promote.Outcome) {
	t := newTable("TARGET", "FROM", "TO", "DIGEST", "OUTCOME")
	for _, oc := range outcomes {
		from, to, digest := dash(oc.Step.From), dash(oc.Step.To), oc.Step.Digest
		if r := oc.Result; r != nil {
			from, to, digest = dash(r.From), r.Environment, r.Digest
		}
		outcome := outcomeOf(oc)
		if oc.Err != nil {
			outcome = s.alert(outcome)
		}
		t.row(oc.Step.Target, from, to, s.digest(digest), outcome)
	}
	_ = t.write(w)
}

// promotionJSON is one target's entry of promote -o json (one target or
// several): a failure has its error, class and exit code.
type promotionJSON struct {
	Target   string          `json:"target"`
	From     string          `json:"from,omitempty"`
	To       string          `json:"to,omitempty"`
	Outcome  string          `json:"outcome"`
	Skip     string          `json:"skip,omitempty"`
	Error    string          `json:"error,omitempty"`
	Class    string          `json:"class,omitempty"`
	ExitCode int             `json:"exitCode"`
	Result   *promote.Result `json:"result,omitempty"`
}

func promotionsJSON(outcomes []promote.Outcome) map[string][]promotionJSON {
	out := make([]promotionJSON, len(outcomes))
	for i, oc := range outcomes {
		out[i] = promotionJSON{Target: oc.Step.Target, From: oc.Step.From, To: oc.Step.To, Outcome: outcomeOf(oc), Skip: oc.Step.Skip, Result: oc.Result}
		if oc.Err != nil {
			class := failure.ClassOf(oc.Err)
			out[i].Error, out[i].Class, out[i].ExitCode = oneLine(oc.Err), class.String(), class.ExitCode()
		}
		if r := oc.Result; r != nil {
			out[i].From, out[i].To = r.From, r.Environment
		}
	}
	return map[string][]promotionJSON{"promotions": out}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
func (ro *rootOptions) printResult(w io.Writer, res *promote.Result) error {
	if ro.output == "json" {
		return writeJSON(w, res)
	}
	s := ro.style(w)
	if res.Decision != nil && !res.Decision.Allowed {
		fmt.Fprintf(w, "%s %s %s → %s\n", s.alert("DENIED"), res.Target, s.digest(res.Digest), res.Environment)
		for _, v := range res.Decision.Violations {
			fmt.Fprintf(w, "  %s: %s\n", v.Policy, v.Message)
		}
		return nil
	}
	if res.AlreadyPromoted {
		if len(res.Rollout) > 0 {
			fmt.Fprintf(w, "%s %s is already in %s (%s), with a receipt: its rollout was completed\n", res.Target, s.digest(res.Digest), res.Environment, res.Tag)
			printWritten(w, res.Written, false)
			printRollout(w, res)
			return nil
		}
		fmt.Fprintf(w, "%s %s is already in %s (%s), with a receipt: nothing to do\n", res.Target, s.digest(res.Digest), res.Environment, res.Tag)
		printWritten(w, res.Written, false)
		return nil
	}
	if !res.Receipt {
		return nil
	}
	fmt.Fprintf(w, "%s %s %s → %s\n", res.Action, res.Target, s.digest(res.Digest), res.Tag)
	if c := res.Copy; c != nil {
		// The copy counts layers: attestations and receipts share cosign's
		// .att image, so they are counted together here (countsHelp).
		fmt.Fprintf(w, "  copied to %s: image %s, %s, %d attestation and receipt layers\n", res.Environment,
			yesNo(c.ImageCopied), plural(c.Signatures, "signature"), c.Attestations)
	}
	if len(res.AMIs) > 0 {
		fmt.Fprintf(w, "  AMIs: %s\n", amiList(res.AMIs))
	}
	fmt.Fprintln(w, "  receipt signed")
	printWritten(w, res.Written, false)
	printRollout(w, res)
	return nil
}

// printWritten prints what --write did to each file, or on a dry run what
// it would do, with the diff.
func printWritten(w io.Writer, written []gitops.Written, dryRun bool) {
	for _, wr := range written {
		switch {
		case !wr.Changed:
			fmt.Fprintf(w, "  %s already pins %s (%s %s): not rewritten\n", wr.File, wr.Ref, wr.Format, wr.Image)
		case dryRun:
			fmt.Fprintf(w, "%s would pin %s (%s %s):\n%s", wr.File, wr.Ref, wr.Format, wr.Image, wr.Diff)
		default:
			fmt.Fprintf(w, "  wrote %s: %s %s → %s\n", wr.File, wr.Format, wr.Image, wr.Ref)
		}
	}
}

// printRollout prints a line per launch template and group of a result's
// rollout.
func printRollout(w io.Writer, res *promote.Result) {
	for _, d := range res.Rollout {
		fmt.Fprintf(w, "  rollout: %s\n", rolloutLine(d))
	}
}
