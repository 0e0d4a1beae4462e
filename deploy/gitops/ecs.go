package gitops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ecsEditor pins the image of the containerDefinitions[] entry named IMAGE
// of an ECS task definition (JSON, as register-task-definition reads it).
// Only the bytes of that one string change: key order, indentation and
// everything else stay as they are.
type ecsEditor struct{}

func (ecsEditor) Edit(content []byte, image string, pin Pin) ([]byte, error) {
	var td struct {
		ContainerDefinitions []struct {
			Name  string  `json:"name"`
			Image *string `json:"image"`
		} `json:"containerDefinitions"`
	}
	if err := json.Unmarshal(content, &td); err != nil {
		return nil, jsonError(content, err)
	}
	idx := -1
	for i, c := range td.ContainerDefinitions {
		if c.Name == image && c.Image != nil {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, ErrImageNotFound
	}
	if *td.ContainerDefinitions[idx].Image == pin.Ref() {
		return content, nil
	}
	start, end, err := ecsImageSpan(content, idx)
	if err != nil {
		return nil, err
	}
	var val bytes.Buffer
	enc := json.NewEncoder(&val)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(pin.Ref()); err != nil {
		return nil, err
	}
	out := append([]byte{}, content[:start]...)
	out = append(out, bytes.TrimSpace(val.Bytes())...)
	return append(out, content[end:]...), nil
}

// ecsImageSpan finds the byte span of the string value of
// containerDefinitions[idx].image in content, walking its tokens.
func ecsImageSpan(content []byte, idx int) (start, end int, err error) {
	w := &jsonWalker{dec: json.NewDecoder(bytes.NewReader(content)), content: content,
		want: []any{"containerDefinitions", idx, "image"}}
	found, err := w.value(nil)
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("containerDefinitions[%d].image: not found", idx)
	}
	return w.start, w.end, nil
}

// jsonWalker finds the span of the string at path want.
type jsonWalker struct {
	dec        *json.Decoder
	content    []byte
	want       []any
	start, end int
}

// value reads the value at path, reporting whether it is the one wanted.
func (w *jsonWalker) value(path []any) (bool, error) {
	before := int(w.dec.InputOffset())
	tok, err := w.dec.Token()
	if err != nil {
		return false, err
	}
	switch t := tok.(type) {
	case json.Delim:
		for i := 0; w.dec.More(); i++ {
			var step any = i
			if t == '{' {
				k, err := w.dec.Token()
				if err != nil {
					return false, err
				}
				step = k
			}
			if found, err := w.value(append(path, step)); found || err != nil {
				return found, err
			}
		}
		_, err := w.dec.Token() // the closing delimiter
		return false, err
	case string:
		if slices.Equal(path, w.want) {
			w.start = before + bytes.IndexByte(w.content[before:], '"')
			w.end = int(w.dec.InputOffset())
			return true, nil
		}
	}
	return false, nil
}

// jsonError is a JSON syntax error with its line.
func jsonError(content []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ParseError{Line: 1 + bytes.Count(content[:min(int(se.Offset), len(content))], []byte("\n")), Err: err}
	}
	return &ParseError{Err: err}
}
