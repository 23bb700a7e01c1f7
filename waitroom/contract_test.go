package waitroom_test

import (
	"testing"

	"vaxbook"
	"vaxbook/waitroom"
	"vaxbook/waitroom/waitroomtest"
)

func TestMemoryContract(t *testing.T) {
	waitroomtest.Run(t, func(t *testing.T) func() vaxbook.WaitRoomBackend {
		m := waitroom.NewMemory()
		return func() vaxbook.WaitRoomBackend { return m }
	})
}
