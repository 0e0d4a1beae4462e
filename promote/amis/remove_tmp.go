package amis

import "context"

type Remover interface {
	Remove(ctx context.Context, amis map[string]string) ([]Removed, error)
}
type Removed struct {
	Region, AMI string
	Snapshots   []string
}

func (p *EC2) Remove(ctx context.Context, amis map[string]string) ([]Removed, error) { return nil, nil }
