package inmem_test

import (
	"testing"

	"vaxbook"
	"vaxbook/inmem"
	"vaxbook/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vaxbook.Store {
		s := inmem.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
