package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"vaxbook"
)

func sameSession(t *testing.T, got, want vaxbook.Session) {
	t.Helper()
	if got.ID != want.ID || got.PersonID != want.PersonID || got.Operator != want.Operator || got.Provider != want.Provider ||
		got.DeviceID != want.DeviceID || got.CSRFToken != want.CSRFToken ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeen.Equal(want.LastSeen) {
		t.Fatalf("session = %+v\nwant %+v", got, want)
	}
}

// RunSessions checks the SessionStore.
func RunSessions(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	base := time.Date(2021, 8, 9, 20, 0, 0, 0, KST)
	mk := func(i int, lastSeen time.Time) vaxbook.Session {
		return vaxbook.Session{ID: fmt.Sprintf("sess-%02d-AbCdEf_-", i), PersonID: int64(i), Provider: "naver",
			DeviceID: fmt.Sprintf("dev-%d", i), CSRFToken: fmt.Sprintf("csrf-%d", i), CreatedAt: base, LastSeen: lastSeen}
	}
	op := vaxbook.Session{ID: "ops-1", Operator: "kim", Provider: "ops", DeviceID: "d", CSRFToken: "c", CreatedAt: base, LastSeen: base}
	sessions := []vaxbook.Session{mk(1, base), mk(2, base.Add(time.Minute)), mk(3, base.Add(2*time.Minute)), op}
	for _, se := range sessions {
		if err := s.CreateSession(ctxT(t), se); err != nil {
			t.Fatalf("CreateSession(%s): %v", se.ID, err)
		}
	}
	for _, se := range sessions {
		got, err := s.Session(ctxT(t), se.ID)
		if err != nil {
			t.Fatalf("Session(%s): %v", se.ID, err)
		}
		sameSession(t, got, se)
	}
	if err := s.CreateSession(ctxT(t), sessions[0]); err == nil {
		t.Fatal("CreateSession of an existing id succeeded")
	}
	_, err := s.Session(ctxT(t), "nope")
	WantCode(t, err, vaxbook.CodeNotSignedIn)

	touched := base.Add(10*time.Minute + 123456*time.Microsecond)
	if err := s.TouchSession(ctxT(t), sessions[0].ID, touched); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctxT(t), sessions[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := sessions[0]
	want.LastSeen = touched
	sameSession(t, got, want)
	WantCode(t, s.TouchSession(ctxT(t), "nope", touched), vaxbook.CodeNotSignedIn)

	if err := s.DeleteSession(ctxT(t), sessions[1].ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Session(ctxT(t), sessions[1].ID)
	WantCode(t, err, vaxbook.CodeNotSignedIn)
	if err := s.DeleteSession(ctxT(t), sessions[1].ID); err != nil {
		t.Fatalf("DeleteSession of a missing session: %v", err)
	}

	// Left: 1 (touched), 3 (base+2m), op (base). Before base+2m: op only
	// (3 is not strictly before).
	n, err := s.DeleteSessionsBefore(ctxT(t), base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("DeleteSessionsBefore removed %d, want 1", n)
	}
	_, err = s.Session(ctxT(t), op.ID)
	WantCode(t, err, vaxbook.CodeNotSignedIn)
	for _, id := range []string{sessions[0].ID, sessions[2].ID} {
		if _, err := s.Session(ctxT(t), id); err != nil {
			t.Fatalf("Session(%s) after DeleteSessionsBefore: %v", id, err)
		}
	}
	n, err = s.DeleteSessionsBefore(ctxT(t), touched.Add(time.Microsecond))
	if err != nil || n != 2 {
		t.Fatalf("DeleteSessionsBefore(all) = %d, %v; want 2", n, err)
	}
}

func sameLock(t *testing.T, got, want vaxbook.DeviceLock) {
	t.Helper()
	if got.PersonID != want.PersonID || got.CampaignID != want.CampaignID || got.WindowID != want.WindowID ||
		got.DeviceHash != want.DeviceHash || got.Provider != want.Provider ||
		!got.LockedAt.Equal(want.LockedAt) || !got.Expires.Equal(want.Expires) {
		t.Fatalf("lock = %+v\nwant %+v", got, want)
	}
}

// RunDeviceLocks checks the DeviceLockStore.
func RunDeviceLocks(t *testing.T, open Opener) {
	s, _ := Loaded(t, open)
	now := time.Date(2021, 8, 9, 20, 0, 5, 0, KST)
	closes := time.Date(2021, 8, 10, 18, 0, 0, 0, KST)
	lock := func(person int64, window, device string, at time.Time) vaxbook.DeviceLock {
		return vaxbook.DeviceLock{PersonID: person, CampaignID: CampaignID, WindowID: window, DeviceHash: device,
			Provider: "kakao", LockedAt: at, Expires: closes}
	}
	a := lock(1, "rotation-09", "aaaa", now)
	got, err := s.AcquireDeviceLock(ctxT(t), a, now)
	if err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, a)

	b := lock(1, "rotation-09", "bbbb", now.Add(time.Second))
	got, err = s.AcquireDeviceLock(ctxT(t), b, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, a) // held by a
	a2 := a
	a2.LockedAt = now.Add(2 * time.Second)
	got, err = s.AcquireDeviceLock(ctxT(t), a2, now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, a) // the holder again: unchanged
	got, err = s.DeviceLock(ctxT(t), 1, CampaignID, "rotation-09")
	if err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, a)

	// Another window or person is another key.
	c := lock(1, "open", "bbbb", now)
	if got, err = s.AcquireDeviceLock(ctxT(t), c, now); err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, c)
	d := lock(2, "rotation-09", "bbbb", now)
	if got, err = s.AcquireDeviceLock(ctxT(t), d, now); err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, d)

	// At Expires the lock no longer holds.
	late := lock(1, "rotation-09", "cccc", closes)
	late.Expires = closes.Add(24 * time.Hour)
	got, err = s.AcquireDeviceLock(ctxT(t), late, closes)
	if err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, late)
	if got, err = s.DeviceLock(ctxT(t), 1, CampaignID, "rotation-09"); err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, late)

	if err := s.ReleaseDeviceLock(ctxT(t), 1, CampaignID, "rotation-09"); err != nil {
		t.Fatal(err)
	}
	_, err = s.DeviceLock(ctxT(t), 1, CampaignID, "rotation-09")
	WantCode(t, err, vaxbook.CodeNotFound)
	WantCode(t, s.ReleaseDeviceLock(ctxT(t), 1, CampaignID, "rotation-09"), vaxbook.CodeNotFound)
	if got, err = s.AcquireDeviceLock(ctxT(t), b, now); err != nil {
		t.Fatal(err)
	}
	sameLock(t, got, b) // free again after release

	t.Run("concurrent acquire: exactly one wins", func(t *testing.T) {
		const n = 32
		var wg sync.WaitGroup
		results := make([]vaxbook.DeviceLock, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = s.AcquireDeviceLock(ctxT(t), lock(3, "rotation-09", fmt.Sprintf("dev-%02d", i), now), now)
			}()
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("acquire %d: %v", i, errs[i])
			}
			if results[i].DeviceHash != results[0].DeviceHash {
				t.Fatalf("callers saw different holders: %q and %q", results[0].DeviceHash, results[i].DeviceHash)
			}
			if results[i].DeviceHash == fmt.Sprintf("dev-%02d", i) {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("%d devices won the lock, want exactly 1", winners)
		}
		held, err := s.DeviceLock(ctxT(t), 3, CampaignID, "rotation-09")
		if err != nil || held.DeviceHash != results[0].DeviceHash {
			t.Fatalf("DeviceLock after the race = %+v, %v; want holder %q", held, err, results[0].DeviceHash)
		}
	})
}

// RunAudit checks the AuditLog.
func RunAudit(t *testing.T, open Opener) {
	s := open(t)
	entries, err := s.AuditEntries(ctxT(t), 0, 10)
	if err != nil || len(entries) != 0 {
		t.Fatalf("AuditEntries of an empty log = %v, %v", entries, err)
	}
	base := time.Date(2021, 8, 9, 19, 0, 0, 0, KST)
	var want []vaxbook.AuditEntry
	for i := range 5 {
		e := vaxbook.AuditEntry{ID: 999, At: base.Add(time.Duration(i) * time.Minute), Actor: "operator:kim",
			Action: "waitroom.set", Target: fmt.Sprintf("room-%d", i), Detail: fmt.Sprintf(`{"rate":%d}`, i*100)}
		if err := s.Audit(ctxT(t), e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	all, err := s.AuditEntries(ctxT(t), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("%d entries, want 5", len(all))
	}
	for i, e := range all {
		w := want[4-i]
		if e.Actor != w.Actor || e.Action != w.Action || e.Target != w.Target || e.Detail != w.Detail || !e.At.Equal(w.At) {
			t.Fatalf("entry %d = %+v, want %+v", i, e, w)
		}
		if i > 0 && e.ID >= all[i-1].ID {
			t.Fatalf("entries not newest first by id: %d after %d", e.ID, all[i-1].ID)
		}
	}
	// Page through by two.
	var paged []int64
	before := int64(0)
	for range 4 {
		page, err := s.AuditEntries(ctxT(t), before, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d entries with limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			paged = append(paged, e.ID)
		}
		before = page[len(page)-1].ID
	}
	if len(paged) != 5 {
		t.Fatalf("paging by two gave ids %v, want 5 entries", paged)
	}
	for i := range paged {
		if paged[i] != all[i].ID {
			t.Fatalf("paging gave ids %v, want %v", paged, all)
		}
	}
}

// RunPingClose checks Ping and Close.
// RunProviderSwitches checks the ProviderSwitchStore: none at first, one
// per provider (the last stored wins), ordered by provider, instants to the
// microsecond.
func RunProviderSwitches(t *testing.T, open Opener) {
	s := open(t)
	got, err := s.ProviderSwitches(ctxT(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("ProviderSwitches of an empty store = %+v, %v", got, err)
	}
	at := time.Date(2021, 8, 9, 20, 0, 1, 123456000, KST)
	for _, sw := range []vaxbook.ProviderSwitch{
		{Provider: "kakao", Enabled: false, By: "kim", At: at},
		{Provider: "naver", Enabled: false, By: "lee", At: at.Add(time.Minute)},
		{Provider: "kakao", Enabled: true, By: "park", At: at.Add(2 * time.Minute)},
		{Provider: "pass", Enabled: false, By: "운영자", At: at.Add(3 * time.Minute)},
	} {
		if err := s.SetProviderSwitch(ctxT(t), sw); err != nil {
			t.Fatalf("SetProviderSwitch(%+v): %v", sw, err)
		}
	}
	want := []vaxbook.ProviderSwitch{
		{Provider: "kakao", Enabled: true, By: "park", At: at.Add(2 * time.Minute)},
		{Provider: "naver", Enabled: false, By: "lee", At: at.Add(time.Minute)},
		{Provider: "pass", Enabled: false, By: "운영자", At: at.Add(3 * time.Minute)},
	}
	if got, err = s.ProviderSwitches(ctxT(t)); err != nil || len(got) != len(want) {
		t.Fatalf("ProviderSwitches = %+v, %v; want %+v", got, err, want)
	}
	for i := range want {
		if got[i].Provider != want[i].Provider || got[i].Enabled != want[i].Enabled || got[i].By != want[i].By || !got[i].At.Equal(want[i].At) {
			t.Fatalf("switch %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func RunPingClose(t *testing.T, open Opener) {
	s := open(t)
	if err := s.Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctxT(t)); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}
