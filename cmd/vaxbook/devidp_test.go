package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"vaxbook/campaign"
	"vaxbook/seed"
)

func TestDevIDPCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runDevIDP(ctx, []string{"-addr", "127.0.0.1:0", "-people", "5000", "-seed", "7",
			"-emulate", "pass:outage;kakao:capacity=50,median=1ms"}, pw, &stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output; stderr: %s", stderr.String())
	}
	first := lines.Text()
	base := strings.Fields(strings.TrimPrefix(first, "vaxbook devidp: listening on "))[0]
	go io.Copy(io.Discard, pr)

	// A relying party from the libraries logs person 1234 in with naver.
	p, err := oidc.NewProvider(ctx, base+"/idp/naver")
	if err != nil {
		t.Fatal(err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	conf := oauth2.Config{ClientID: "vaxbook", ClientSecret: "dev-secret", Endpoint: ep,
		RedirectURL: "http://127.0.0.1:9999/auth/naver/callback", Scopes: []string{"openid", "profile"}}
	v := oauth2.GenerateVerifier()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("login_hint", "1234")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: "vaxbook"}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ CI, Name string }
	idt.Claims(&claims)
	c, _ := campaign.Load(campaign.Default)
	cfg := seed.DefaultConfig()
	cfg.People, cfg.Seed = 5000, 7
	g, err := seed.NewGenerator(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := g.Citizen(1234); claims.CI != want.CI || claims.Name != want.Name {
		t.Errorf("claims %+v, want the seed's person 1234 %+v", claims, want)
	}

	// -emulate took effect; the ops API answers.
	resp, err = http.Get(base + "/ops/idp/")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Providers []struct {
			Name      string
			Emulation struct {
				Capacity float64
				Outage   bool
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	got := map[string]string{}
	for _, p := range st.Providers {
		b, _ := json.Marshal(p.Emulation)
		got[p.Name] = string(b)
	}
	if got["pass"] != `{"Capacity":0,"Outage":true}` || got["kakao"] != `{"Capacity":50,"Outage":false}` {
		t.Errorf("emulation %v", got)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after shutdown; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("devidp did not stop")
	}
}

func TestDevIDPBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-emulate", "naver"},
		{"-emulate", "naver:capacity=-1"},
		{"-emulate", "nosuch:outage"},
		{"-emulate", "naver:speed=3"},
		{"-people", "0"},
		{"-campaign", "no-such-campaign"},
		{"-base-url", "ftp://x"},
		{"-bogus"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		if code := runDevIDP(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
		if errb.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
	var out bytes.Buffer
	if code := runDevIDP(context.Background(), []string{"-help"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "-emulate") {
		t.Errorf("-help: %d %q", code, out.String())
	}
}
