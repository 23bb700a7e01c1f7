package booking

import (
	"math/bits"
	"slices"
	"time"

	"vaxbook"
)

// commitLoop collects writes into batches and commits them until Close.
func (e *Engine) commitLoop() {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*request, 0, e.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-e.reqs:
			batch = append(batch, r)
		case <-e.quit:
			e.drain()
			return
		}
		batch = e.collect(batch, timer)
		e.commit(batch)
	}
}

// collect fills the batch with what is queued, then, if it is still not
// full, waits up to MaxWait for more.
func (e *Engine) collect(batch []*request, timer *time.Timer) []*request {
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		break
	}
	if len(batch) >= e.cfg.MaxBatch || e.cfg.MaxWait < 0 {
		return batch
	}
	timer.Reset(e.cfg.MaxWait)
	defer timer.Stop()
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.reqs:
			batch = append(batch, r)
		case <-timer.C:
			return batch
		case <-e.quit:
			return batch
		}
	}
	return batch
}

// drain commits whatever is still queued when the engine closes.
func (e *Engine) drain() {
	for {
		batch := make([]*request, 0, e.cfg.MaxBatch)
		for len(batch) < e.cfg.MaxBatch {
			select {
			case r := <-e.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			break
		}
		if len(batch) == 0 {
			return
		}
		e.commit(batch)
	}
}

// commit hands one batch to the store, in slot order, and answers each
// caller with its own outcome.
func (e *Engine) commit(batch []*request) {
	slices.SortStableFunc(batch, func(a, b *request) int { return cmp64(a.key, b.key) })
	muts := make([]vaxbook.Mutation, len(batch))
	for i, r := range batch {
		muts[i] = r.m
	}
	e.gate.RLock()
	start := time.Now()
	outs, err := e.store.Apply(e.bg, muts)
	e.st.applyNanos.Add(int64(time.Since(start)))
	if err == nil && len(outs) != len(muts) {
		err = &vaxbook.Error{Code: vaxbook.CodeInternal, Message: "the store returned the wrong number of outcomes"}
	}
	if err == nil {
		e.absorb(batch, outs)
	}
	e.gate.RUnlock()

	e.st.batches.Add(1)
	e.st.sizes[min(bits.Len(uint(len(batch)))-1, len(e.st.sizes)-1)].Add(1)
	for {
		cur := e.st.largest.Load()
		if int64(len(batch)) <= cur || e.st.largest.CompareAndSwap(cur, int64(len(batch))) {
			break
		}
	}
	if err != nil {
		e.st.batchErrors.Add(1)
		// Nothing was written, if the store keeps its contract; if a commit
		// failed after all, the catch-up makes the index right again.
		e.dirty.Store(true)
		e.log.Error("booking batch failed", "size", len(batch), "err", err)
		ue := &vaxbook.Error{Code: vaxbook.CodeUnavailable, Message: "The booking database is unavailable. Please try again.", Err: err}
		for _, r := range batch {
			r.done <- result{err: ue}
		}
		return
	}
	e.st.mutations.Add(int64(len(batch)))
	for i, r := range batch {
		r.done <- result{o: outs[i]}
	}
}

// absorb moves the index by the places each successful outcome took or
// gave back. Callers hold gate shared.
func (e *Engine) absorb(batch []*request, outs []vaxbook.Outcome) {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	drift := false
	add := func(slot int64, cohort int, d int32) {
		if !e.ix.addBooked(slot, cohort, d) {
			drift = true
		}
	}
	for i, r := range batch {
		o := outs[i]
		switch {
		case o.Err != nil:
			e.st.refused.Add(1)
			continue
		case o.Replayed:
			e.st.replayed.Add(1)
			continue
		}
		switch r.m.Kind {
		case vaxbook.MutationBook:
			for _, b := range o.Bookings {
				if legDose(r.m.Legs, b.Dose) {
					add(b.SlotID, b.Cohort, +1)
				}
			}
		case vaxbook.MutationChange:
			prev := map[int]vaxbook.Booking{}
			for _, b := range r.prev {
				prev[b.Dose] = b
			}
			for _, b := range o.Bookings {
				if !legDose(r.m.Legs, b.Dose) {
					continue
				}
				old, ok := prev[b.Dose]
				if !ok || old.ID != b.ID || old.Version+1 != b.Version {
					// Someone else (another node) changed the booking
					// between our read and the write.
					drift = true
				}
				if ok {
					add(old.SlotID, old.Cohort, -1)
				}
				add(b.SlotID, b.Cohort, +1)
			}
		case vaxbook.MutationCancel:
			for _, b := range o.Bookings {
				add(b.SlotID, b.Cohort, -1)
			}
		}
	}
	if drift {
		e.st.drift.Add(1)
		e.dirty.Store(true)
	}
}

func legDose(legs []vaxbook.Leg, dose int) bool {
	for _, l := range legs {
		if l.Dose == dose {
			return true
		}
	}
	return false
}

// refreshLoop reads the store's quota change feed every cfg.Refresh, and
// whenever the index may have drifted (a failed batch), and applies it.
func (e *Engine) refreshLoop() {
	defer e.wg.Done()
	period := e.cfg.Refresh
	if period == 0 {
		period = time.Second // only to look at the dirty flag
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-e.quit:
			return
		case <-t.C:
		}
		if e.cfg.Refresh == 0 && !e.dirty.Load() {
			continue
		}
		if err := e.refresh(); err != nil {
			e.st.refreshErrors.Add(1)
			e.log.Warn("availability refresh failed", "err", err)
		}
	}
}

// refresh applies the store's quota changes since the last one (or since
// load) to the index.
func (e *Engine) refresh() error {
	e.gate.Lock()
	defer e.gate.Unlock()
	e.dirty.Store(false)
	rows, seq, err := e.store.QuotaChanges(e.bg, e.c.ID, e.seq)
	if err != nil {
		e.dirty.Store(true)
		return err
	}
	e.applyMu.Lock()
	unknown := 0
	for _, q := range rows {
		if !e.ix.putQuota(q) {
			unknown++
		}
	}
	e.applyMu.Unlock()
	e.seq = seq
	e.st.refreshes.Add(1)
	if unknown > 0 {
		e.log.Warn("quota rows the engine does not know (catalog changed; restart the node)", "rows", unknown)
	}
	return nil
}

// Refresh applies the store's quota changes now (tests and operators; the
// background loop does it every Config.Refresh).
func (e *Engine) Refresh() error {
	select {
	case <-e.quit:
		return errClosed
	default:
	}
	return e.refresh()
}
