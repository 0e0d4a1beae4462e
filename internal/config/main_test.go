package config

import (
	"testing"

	"github.com/bakeryhq/bakery/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
