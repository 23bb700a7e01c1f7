package pii_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"

	"vaxbook/pii"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func mustKeys(t *testing.T, sealing, blind string) *pii.Keys {
	t.Helper()
	k, err := pii.ParseKeys(sealing, blind)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	k := mustKeys(t, "k1:"+key(1), key(9))
	for _, pt := range []string{"", "김민준", "NGUYEN VAN AN", "010-1234-5678", "박똠", strings.Repeat("햏", 1000)} {
		aad := pii.PersonAAD(42)
		s := k.Seal(pt, aad)
		if bytes.Contains(s, []byte(pt)) && pt != "" {
			t.Errorf("sealed value of %q contains the plaintext", pt)
		}
		got, err := k.Open(s, aad)
		if err != nil || got != pt {
			t.Errorf("Open(Seal(%q)) = %q, %v", pt, got, err)
		}
		if id, err := pii.SealedKeyID(s); err != nil || id != "k1" {
			t.Errorf("SealedKeyID = %q, %v; want k1", id, err)
		}
	}
	// Fresh nonce per seal: the same plaintext never seals to the same bytes.
	if a, b := k.Seal("x", nil), k.Seal("x", nil); bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are identical")
	}
}

func TestRotation(t *testing.T) {
	old := mustKeys(t, "k1:"+key(1), key(9))
	sealedOld := old.Seal("이서연", pii.PersonAAD(7))

	rotated := mustKeys(t, "k2:"+key(2)+", k1:"+key(1), key(9))
	if got := rotated.CurrentKeyID(); got != "k2" {
		t.Fatalf("current key = %q, want k2", got)
	}
	if got := rotated.KeyIDs(); len(got) != 2 || got[0] != "k2" || got[1] != "k1" {
		t.Fatalf("KeyIDs = %v", got)
	}
	if got, err := rotated.Open(sealedOld, pii.PersonAAD(7)); err != nil || got != "이서연" {
		t.Fatalf("value sealed under the old key: Open = %q, %v", got, err)
	}
	sealedNew := rotated.Seal("이서연", pii.PersonAAD(7))
	if id, _ := pii.SealedKeyID(sealedNew); id != "k2" {
		t.Errorf("new seal under key %q, want k2", id)
	}
	// A configuration that dropped the old key can no longer open old values.
	onlyNew := mustKeys(t, "k2:"+key(2), key(9))
	if _, err := onlyNew.Open(sealedOld, pii.PersonAAD(7)); !errors.Is(err, pii.ErrOpen) || !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("open with retired key: err = %v, want ErrOpen naming k1", err)
	}
	if got, err := onlyNew.Open(sealedNew, pii.PersonAAD(7)); err != nil || got != "이서연" {
		t.Errorf("new value: Open = %q, %v", got, err)
	}

	// Reseal moves old values to the current key and leaves current ones.
	re, changed, err := rotated.Reseal(sealedOld, pii.PersonAAD(7))
	if err != nil || !changed {
		t.Fatalf("Reseal old: changed=%v err=%v", changed, err)
	}
	if got, err := onlyNew.Open(re, pii.PersonAAD(7)); err != nil || got != "이서연" {
		t.Errorf("resealed value: Open with only the new key = %q, %v", got, err)
	}
	if same, changed, err := rotated.Reseal(sealedNew, pii.PersonAAD(7)); err != nil || changed || !bytes.Equal(same, sealedNew) {
		t.Errorf("Reseal of a current value: changed=%v err=%v", changed, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	k := mustKeys(t, "k1:"+key(1), key(9))
	aad := pii.PersonAAD(1)
	good := k.Seal("010-1234-5678", aad)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		sealed []byte
		aad    []byte
	}{
		{"wrong aad", good, pii.PersonAAD(2)},
		{"missing aad", good, nil},
		{"flipped version", flip(0), aad},
		{"flipped key id length", flip(1), aad},
		{"flipped key id", flip(2), aad},
		{"flipped nonce", flip(5), aad},
		{"flipped ciphertext", flip(len(good) - 20), aad},
		{"flipped tag", flip(len(good) - 1), aad},
		{"truncated", good[:len(good)-1], aad},
		{"header only", good[:4], aad},
		{"empty", nil, aad},
		{"other key same id", mustKeys(t, "k1:"+key(3), key(9)).Seal("010-1234-5678", aad), aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.Open(tc.sealed, tc.aad)
			if !errors.Is(err, pii.ErrOpen) {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
			if got != "" {
				t.Errorf("Open returned plaintext %q with an error", got)
			}
		})
	}
}

func TestBlindIndex(t *testing.T) {
	k := mustKeys(t, "k1:"+key(1), key(9))
	ci := strings.Repeat("A", 86) + "=="
	got := k.BlindIndex(ci)
	m := hmac.New(sha256.New, bytes.Repeat([]byte{9}, 32))
	m.Write([]byte(ci))
	if want := m.Sum(nil); !bytes.Equal(got, want) {
		t.Fatalf("BlindIndex = %x, want HMAC-SHA256 %x", got, want)
	}
	if len(got) != pii.BlindIndexSize {
		t.Errorf("len = %d", len(got))
	}
	if bytes.Equal(got, k.BlindIndex(ci+"x")) {
		t.Error("different identifiers, same index")
	}
	// The index depends on the blind key only, not on the sealing keys.
	k2 := mustKeys(t, "k2:"+key(2)+",k1:"+key(1), key(9))
	if !bytes.Equal(got, k2.BlindIndex(ci)) {
		t.Error("rotating sealing keys changed the blind index")
	}
	other := mustKeys(t, "k1:"+key(1), key(8))
	if bytes.Equal(got, other.BlindIndex(ci)) {
		t.Error("another blind key gives the same index")
	}
	// Concurrency-safe (run with -race).
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if !bytes.Equal(k.BlindIndex(ci), got) {
					t.Error("concurrent BlindIndex differs")
					return
				}
				s := k.Seal("x", nil)
				if v, err := k.Open(s, nil); err != nil || v != "x" {
					t.Error("concurrent seal/open failed")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestParseKeysErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name, sealing, blind, want string
	}{
		{"empty sealing", "", key(9), "no sealing key"},
		{"no colon", key(1), key(9), "sealing entry 1: want id:base64key"},
		{"empty id", ":" + key(1), key(9), "sealing entry 1: key id must be 1–32 characters"},
		{"bad id", "k 1:" + key(1), key(9), `key id "k 1": only ASCII letters`},
		{"duplicate id", "k1:" + key(1) + ",k1:" + key(2), key(9), `sealing entry 2: key id "k1" given twice`},
		{"short key", "k1:" + short, key(9), `sealing key "k1": want 32 bytes, the base64 decodes to 16`},
		{"not base64", "k1:not*base64", key(9), `sealing key "k1": not valid base64`},
		{"second entry bad", "k2:" + key(2) + ",k1:" + short, key(9), `sealing key "k1": want 32 bytes`},
		{"missing blind", "k1:" + key(1), "", "blind-index key: missing"},
		{"short blind", "k1:" + key(1), short, "blind-index key: want 32 bytes"},
		{"same sealing keys", "k2:" + key(1) + ",k1:" + key(1), key(9), `are the same key`},
		{"blind equals sealing", "k1:" + key(1), key(1), "also the blind-index key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pii.ParseKeys(tc.sealing, tc.blind)
			if err == nil {
				t.Fatal("ParseKeys accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			// Key material never appears in errors.
			for _, secret := range []string{key(1), key(2), key(9), short} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q echoes key material", err)
				}
			}
		})
	}
	// URL-safe and unpadded base64 are accepted.
	raw := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	if _, err := pii.ParseKeys("k1:"+raw, raw[:len(raw)-1]+"A"); err != nil {
		t.Errorf("unpadded URL-safe keys: %v", err)
	}
}

func TestDemoKeys(t *testing.T) {
	a, b := pii.DemoKeys(), pii.DemoKeys()
	if a.CurrentKeyID() != "demo" {
		t.Errorf("demo key id = %q", a.CurrentKeyID())
	}
	if !bytes.Equal(a.BlindIndex("x"), b.BlindIndex("x")) {
		t.Error("demo blind index is not deterministic")
	}
	if got, err := b.Open(a.Seal("김민준", pii.PersonAAD(1)), pii.PersonAAD(1)); err != nil || got != "김민준" {
		t.Errorf("demo keys do not open each other's values: %q, %v", got, err)
	}
}

func TestGenerateKeySpec(t *testing.T) {
	n := 0
	rnd := func(b []byte) (int, error) {
		for i := range b {
			b[i] = byte(n)
			n++
		}
		return len(b), nil
	}
	spec, err := pii.GenerateKeySpec("k3", rnd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pii.ParseKeys(spec, key(9)); err != nil {
		t.Errorf("generated spec %q does not parse: %v", spec, err)
	}
	if _, err := pii.GenerateKeySpec("bad id", rnd); err == nil {
		t.Error("bad id accepted")
	}
}

func BenchmarkSeal(b *testing.B) {
	k := pii.DemoKeys()
	aad := pii.PersonAAD(123456)
	for b.Loop() {
		k.Seal("김민준", aad)
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	k := pii.DemoKeys()
	ci := strings.Repeat("A", 86) + "=="
	for b.Loop() {
		k.BlindIndex(ci)
	}
}
