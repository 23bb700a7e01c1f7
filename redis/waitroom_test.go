package redis_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"vaxbook"
	"vaxbook/internal/testdb"
	"vaxbook/redis"
	"vaxbook/waitroom/waitroomtest"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var prefixSeq atomic.Int64

// newBackend gives each test its own key prefix on the per-process Redis;
// every connect is a new client, as a separate node would have.
func newBackend(t *testing.T) func() vaxbook.WaitRoomBackend {
	addr, db := testdb.Redis(t)
	prefix := fmt.Sprintf("t%d-%d", os.Getpid(), prefixSeq.Add(1))
	return func() vaxbook.WaitRoomBackend {
		c := goredis.NewClient(&goredis.Options{Addr: addr, DB: db})
		t.Cleanup(func() { c.Close() })
		return redis.NewWaitRoom(c, prefix)
	}
}

func TestWaitRoomContract(t *testing.T) { waitroomtest.Run(t, newBackend) }
