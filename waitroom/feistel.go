package waitroom

import (
	"encoding/binary"
	"math/bits"
)

// Perm is a keyed pseudo-random permutation of [0, N): a balanced Feistel
// network over the smallest even number of bits that covers N, with
// cycle-walking (re-encrypt until the value falls below N). It needs O(1)
// memory whatever N is, so the pre-queue of a room can be put in a uniformly
// random order at the opening instant without storing a list: ticket i (in
// arrival order) gets place At(i) in line.
//
// The round function is SipHash-2-4 (a keyed PRF) of the round number and
// the right half; the round keys are derived from the room's key and N, so
// each pre-queue size gets an independent permutation. With FeistelRounds
// rounds of a PRF the network is a pseudo-random permutation (Luby–Rackoff
// needs 4); the extra rounds help the tiny domains of small rooms.
type Perm struct {
	n      uint64
	half   uint // bits in each half
	mask   uint64
	k0, k1 uint64
}

// FeistelRounds is the number of Feistel rounds.
const FeistelRounds = 10

// NewPerm returns the permutation of [0, n) under key.
func NewPerm(key [16]byte, n uint64) Perm {
	b := uint(2)
	if n > 4 {
		b = uint(bits.Len64(n - 1))
		if b%2 == 1 {
			b++
		}
	}
	k0 := binary.LittleEndian.Uint64(key[:8])
	k1 := binary.LittleEndian.Uint64(key[8:])
	return Perm{
		n:    n,
		half: b / 2,
		mask: 1<<(b/2) - 1,
		k0:   sipHash(k0, k1, n),
		k1:   sipHash(k0, k1, ^n),
	}
}

// N is the size of the domain.
func (p Perm) N() uint64 { return p.n }

// At returns the image of i (i < N). For i ≥ N it returns i unchanged.
func (p Perm) At(i uint64) uint64 {
	if i >= p.n {
		return i
	}
	x := i
	for {
		x = p.encrypt(x)
		if x < p.n {
			return x
		}
	}
}

func (p Perm) encrypt(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for round := uint64(0); round < FeistelRounds; round++ {
		l, r = r, l^(sipHash(p.k0, p.k1, round<<32|r)&p.mask)
	}
	return l<<p.half | r
}

// sipHash is SipHash-2-4 of one 64-bit little-endian message word.
func sipHash(k0, k1, m uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	v3 ^= m
	round()
	round()
	v0 ^= m
	const last = uint64(8) << 56 // message length 8, no tail bytes
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
