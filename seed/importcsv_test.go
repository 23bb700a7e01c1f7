package seed_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vaxbook"
	"vaxbook/pii"
	"vaxbook/seed"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestImportPeopleErrors(t *testing.T) {
	c := loadCampaign(t, "kr-2021-18-49")
	res, err := seed.CheckPeople(open(t, "people_bad.csv"), "people_bad.csv", c)
	var ie *seed.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("CheckPeople = %+v, %v; want an *ImportError", res, err)
	}
	if vaxbook.ErrorCode(err) != vaxbook.CodeInvalid {
		t.Errorf("code %q, want invalid_argument", vaxbook.ErrorCode(err))
	}
	golden(t, "people_bad.golden", err.Error()+"\n")
	// The streaming reader refuses the same file rather than half-import it.
	var good int
	var streamErr error
	for _, err := range seed.ReadPeople(open(t, "people_bad.csv"), "people_bad.csv", pii.DemoKeys(), 1) {
		if err != nil {
			streamErr = err
			break
		}
		good++
	}
	if streamErr == nil {
		t.Fatal("ReadPeople streamed a bad file to the end without error")
	}
	if good != 1 {
		t.Errorf("ReadPeople yielded %d people before the first bad row, want 1", good)
	}
}

func TestImportClinicsErrors(t *testing.T) {
	clinics, err := seed.ReadClinics(open(t, "clinics_bad.csv"), "clinics_bad.csv", 1)
	if clinics != nil {
		t.Errorf("ReadClinics returned %d clinics with errors", len(clinics))
	}
	var ie *seed.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *ImportError", err)
	}
	golden(t, "clinics_bad.golden", err.Error()+"\n")
}

func TestImportHeaders(t *testing.T) {
	c := loadCampaign(t, "kr-2021-18-49")
	tests := []struct {
		name, data, want string
		people           bool
	}{
		{"empty people", "", "x.csv:1: empty file: want a header row ci,birth_date,nationality,name,phone,sigungu_code", true},
		{"people without header", "CI-A,1990-05-31,KR,김민준,010-1234-5678,11010\n", `header is "CI-A,1990-05-31,KR,김민준,010-1234-5678,11010", want ci,birth_date`, true},
		{"people header only", "ci,birth_date,nationality,name,phone,sigungu_code\n", "no people", true},
		{"clinics wrong order", "name,address,sigungu_code,lat,lng,vaccine\n", "want name,sigungu_code,address,lat,lng,vaccine[,phone]", false},
		{"clinics header only", "NAME, sigungu_code ,address,lat,lng,vaccine,phone\n", "no clinics", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.people {
				_, err = seed.CheckPeople(strings.NewReader(tc.data), "x.csv", c)
			} else {
				_, err = seed.ReadClinics(strings.NewReader(tc.data), "x.csv", 1)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestImportGood(t *testing.T) {
	c := loadCampaign(t, "kr-2021-18-49")
	clinics, err := seed.ReadClinics(open(t, "clinics_good.csv"), "clinics_good.csv", 101)
	if err != nil {
		t.Fatal(err)
	}
	want := []vaxbook.Clinic{
		{ID: 101, Name: "종로연세내과의원", SidoCode: "11", SigunguCode: "11010", Address: "서울특별시 종로구 종로 1", Lat: 37.57, Lng: 126.98, Vaccine: "pfizer"},
		{ID: 102, Name: "압해의원", SidoCode: "36", SigunguCode: "36480", Address: "전라남도 신안군 압해읍 1", Lat: 34.8266, Lng: 126.3515, Vaccine: "moderna"},
	}
	if len(clinics) != len(want) {
		t.Fatalf("%d clinics", len(clinics))
	}
	for i := range want {
		if clinics[i] != want[i] {
			t.Errorf("clinic %d = %+v, want %+v", i, clinics[i], want[i])
		}
	}

	res, err := seed.CheckPeople(open(t, "people_good.csv"), "people_good.csv", c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 || res.InGroup != 2 {
		t.Errorf("CheckPeople = %+v, want 3 rows, 2 in the group", res)
	}
	keys := pii.DemoKeys()
	var got []vaxbook.Person
	for p, err := range seed.ReadPeople(open(t, "people_good.csv"), "people_good.csv", keys, 11) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 3 {
		t.Fatalf("%d people", len(got))
	}
	p := got[1]
	if p.ID != 12 || p.BirthDate != vaxbook.MustDate("2000-02-29") || p.Nationality != vaxbook.RegisteredAlien || p.Sigungu != "36480" {
		t.Errorf("person = %+v", p)
	}
	if !bytes.Equal(p.CIHash, keys.BlindIndex("CI-B")) {
		t.Error("CIHash is not the blind index of the CI")
	}
	if name, err := keys.Open(p.NameSealed, pii.PersonAAD(12)); err != nil || name != "NGUYEN VAN AN" {
		t.Errorf("name opens to %q, %v", name, err)
	}
	if p.PhoneSealed != nil {
		t.Error("empty phone sealed")
	}
	if name, _ := keys.Open(got[2].NameSealed, pii.PersonAAD(13)); name != "박똠" {
		t.Errorf("rare-syllable name round trip: %q", name)
	}
}
