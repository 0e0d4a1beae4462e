package gitops

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The YAML formats are edited with kustomize's kyaml: the documents are
// read as nodes (comments, key order, quoting and sequence indentation
// kept), the few fields set in place, and written back. A file whose
// fields already hold the pin is returned as it was, byte for byte.

// kustomizeEditor pins images[] {name: IMAGE} of a kustomization: newName
// is the repository, digest the digest, and newTag is dropped (kustomize
// applies a tag and a digest together as tag@digest). The entry must be
// there: bakery does not add images to a kustomization.
type kustomizeEditor struct{}

func (kustomizeEditor) Edit(content []byte, image string, pin Pin) ([]byte, error) {
	return editYAML(content, func(docs []*yaml.RNode) (bool, error) {
		if len(docs) != 1 {
			return false, &ParseError{Err: errors.New("a kustomization is one YAML document")}
		}
		images, err := docs[0].Pipe(yaml.Lookup("images"))
		if err != nil || images == nil {
			return false, ErrImageNotFound
		}
		entry, err := images.Pipe(yaml.MatchElement("name", image))
		if err != nil || entry == nil {
			return false, ErrImageNotFound
		}
		changed, err := setString(entry, "newName", pin.Repository)
		if err != nil {
			return false, err
		}
		c, err := setString(entry, "digest", pin.Digest)
		if err != nil {
			return false, err
		}
		changed = changed || c
		if entry.Field("newTag") != nil {
			if _, err := entry.Pipe(yaml.Clear("newTag")); err != nil {
				return false, err
			}
			changed = true
		}
		return changed, nil
	})
}

// helmEditor pins a Helm values file's image block, at the dotted key
// IMAGE (default "image"): its repository and digest. A tag is left as it
// is: a chart that renders repository@digest when digest is set ignores it.
type helmEditor struct{}

func (helmEditor) Edit(content []byte, image string, pin Pin) ([]byte, error) {
	return editYAML(content, func(docs []*yaml.RNode) (bool, error) {
		if len(docs) != 1 {
			return false, &ParseError{Err: errors.New("a values file is one YAML document")}
		}
		block, err := docs[0].Pipe(yaml.Lookup(strings.Split(image, ".")...))
		if err != nil || block == nil || block.YNode().Kind != yaml.MappingNode {
			return false, ErrImageNotFound
		}
		changed, err := setString(block, "repository", pin.Repository)
		if err != nil {
			return false, err
		}
		c, err := setString(block, "digest", pin.Digest)
		return changed || c, err
	})
}

// manifestEditor pins every container and init container named IMAGE of
// the workloads in a multi-document Kubernetes manifest to
// repository@digest.
type manifestEditor struct{}

// podSpecs is where each workload kind keeps its pod spec.
var podSpecs = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

func (manifestEditor) Edit(content []byte, image string, pin Pin) ([]byte, error) {
	return editYAML(content, func(docs []*yaml.RNode) (bool, error) {
		found, changed := false, false
		for _, doc := range docs {
			path, ok := podSpecs[doc.GetKind()]
			if !ok {
				continue
			}
			spec, err := doc.Pipe(yaml.Lookup(path...))
			if err != nil || spec == nil {
				continue
			}
			for _, list := range []string{"containers", "initContainers"} {
				cs, err := spec.Pipe(yaml.Lookup(list))
				if err != nil || cs == nil {
					continue
				}
				elems, err := cs.Elements()
				if err != nil {
					return false, err
				}
				for _, c := range elems {
					if yaml.GetValue(c.Field("name").Value) != image {
						continue
					}
					found = true
					ch, err := setString(c, "image", pin.Ref())
					if err != nil {
						return false, err
					}
					changed = changed || ch
				}
			}
		}
		if !found {
			return false, ErrImageNotFound
		}
		return changed, nil
	})
}

// editYAML reads content's documents, lets edit change them, and writes
// them back; when edit changed nothing, content is returned as it was.
func editYAML(content []byte, edit func([]*yaml.RNode) (bool, error)) ([]byte, error) {
	r := &kio.ByteReader{Reader: bytes.NewReader(content), PreserveSeqIndent: true}
	docs, err := r.Read()
	if err != nil {
		return nil, yamlError(err)
	}
	if len(docs) == 0 {
		return nil, &ParseError{Err: errors.New("no YAML document")}
	}
	changed, err := edit(docs)
	if err != nil || !changed {
		if err == nil {
			return content, nil
		}
		return nil, err
	}
	var out bytes.Buffer
	if err := (kio.ByteWriter{Writer: &out}).Write(docs); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// setString sets key of m to a string, keeping the key's comments; it
// reports whether the value changed.
func setString(m *yaml.RNode, key, value string) (bool, error) {
	if f := m.Field(key); f != nil && f.Value.YNode().Kind == yaml.ScalarNode && f.Value.YNode().Value == value {
		return false, nil
	}
	if f := m.Field(key); f != nil && f.Value.YNode().Kind == yaml.ScalarNode {
		n := f.Value.YNode()
		n.Value, n.Tag = value, yaml.NodeTagString
		if n.Style != yaml.DoubleQuotedStyle && n.Style != yaml.SingleQuotedStyle {
			n.Style = 0
		}
		return true, nil
	}
	_, err := m.Pipe(yaml.SetField(key, yaml.NewStringRNode(value)))
	return true, err
}

// yamlLine is the line a yaml.v3 error names.
var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "MalformedYAMLError: "), "yaml: ")
		msg = strings.TrimSpace(strings.Replace(msg, "line "+m[1]+":", "", 1))
		return &ParseError{Line: line, Err: errors.New(msg)}
	}
	return &ParseError{Err: err}
}
