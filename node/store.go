// Package node assembles one vaxbook node from its configuration: the store
// (SQLite file or PostgreSQL URL), the booking engine, the waiting room, the
// identity providers and the web server. cmd/vaxbook and rush --embedded use
// it; it is the only library package allowed to import adapters.
package node

import (
	"context"
	"errors"

	"vaxbook"
)

// OpenStore opens (creating and migrating as needed) the store named by db:
// a postgres:// or postgresql:// URL for PostgreSQL, otherwise a SQLite file
// path (a directory gets "vaxbook.db" inside it).
func OpenStore(ctx context.Context, db string) (vaxbook.Store, error) {
	return nil, errors.New("node.OpenStore: storage adapters not wired yet")
}
