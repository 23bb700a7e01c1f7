package seed

import (
	"slices"
	"testing"

	"vaxbook/campaign"
)

// The reference data says seven centroids lie at sea; the polygons must agree,
// and the town centres that replace them must be well inside.
func TestSevenCentroidsAtSea(t *testing.T) {
	land, err := LoadLand()
	if err != nil {
		t.Fatal(err)
	}
	regions, err := Regions()
	if err != nil {
		t.Fatal(err)
	}
	var atSea []string
	for _, r := range regions {
		if !land.Has(r.SigunguCode) {
			t.Errorf("no polygon for %s %s", r.SigunguCode, r.SigunguKo)
			continue
		}
		if !land.Contains(r.SigunguCode, r.Lat, r.Lng) {
			atSea = append(atSea, r.SigunguKo)
		}
	}
	want := []string{"옹진군", "안산시 단원구", "여수시", "완도군", "신안군", "사천시", "남해군"}
	slices.Sort(atSea)
	slices.Sort(want)
	if !slices.Equal(atSea, want) {
		t.Errorf("centroids outside their polygon: %v, want %v", atSea, want)
	}
	if len(townCentres) != 7 {
		t.Errorf("%d town centres, want 7", len(townCentres))
	}
	for code, p := range townCentres {
		if d := land.Inside(code, p[0], p[1]); d < landMarginM {
			t.Errorf("town centre of %s is %.0f m inside its district, want ≥ %d", code, d, landMarginM)
		}
	}
}

func TestLandGeometry(t *testing.T) {
	land, err := LoadLand()
	if err != nil {
		t.Fatal(err)
	}
	regions, _ := Regions()
	var total float64
	for _, r := range regions {
		total += land.areaKm2(r.SigunguCode)
	}
	// The README of the reference data: about 100,600 km² (official ~100,400).
	if total < 99_000 || total > 102_000 {
		t.Errorf("total area %.0f km², want about 100,600", total)
	}
	tests := []struct {
		name     string
		code     string
		lat, lng float64
		inside   bool
	}{
		{"Gyeongbokgung in Jongno", "11010", 37.5796, 126.9770, true},
		{"Gyeongbokgung not in Gangnam", "11230", 37.5796, 126.9770, false},
		{"Jeju city hall", "39010", 33.4996, 126.5312, true},
		{"Yellow Sea off Ongjin", "23320", 37.5237, 125.6730, false},
		{"unknown district", "99999", 37.5, 127.0, false},
	}
	for _, tc := range tests {
		if got := land.Contains(tc.code, tc.lat, tc.lng); got != tc.inside {
			t.Errorf("%s: Contains = %v, want %v", tc.name, got, tc.inside)
		}
		if got := land.Inside(tc.code, tc.lat, tc.lng) > 0; got != tc.inside {
			t.Errorf("%s: Inside > 0 = %v, want %v", tc.name, got, tc.inside)
		}
	}
}

func TestAnchorsInside(t *testing.T) {
	land, err := LoadLand()
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGenerator(t)
	for _, r := range g.regions {
		a := g.anchor(land, r)
		if !land.InsideBy(r.SigunguCode, a[0], a[1], landMarginM) {
			t.Errorf("anchor of %s %s at %v is not %d m inside", r.SigunguCode, r.SigunguKo, a, landMarginM)
		}
	}
}

func TestApportion(t *testing.T) {
	tests := []struct {
		total int
		w     []float64
		want  []int
	}{
		{10, []float64{1, 1, 1}, []int{4, 3, 3}},
		{0, []float64{1, 2}, []int{0, 0}},
		{7, []float64{0.5, 0.25, 0.25}, []int{3, 2, 2}},
		{3, []float64{1, 0, 0}, []int{3, 0, 0}},
	}
	for _, tc := range tests {
		if got := apportion(tc.total, tc.w, 0); !slices.Equal(got, tc.want) {
			t.Errorf("apportion(%d, %v) = %v, want %v", tc.total, tc.w, got, tc.want)
		}
	}
	// Carried rounding: over many rounds every index stays within one place
	// of its exact share and each round's total is exact.
	w := []float64{0.3, 0.3, 0.2, 0.15, 0.05}
	carry := make([]float64, len(w))
	sums := make([]int, len(w))
	for round := 0; round < 50; round++ {
		got := apportionCarry(7, w, carry, round)
		s := 0
		for i, x := range got {
			s += x
			sums[i] += x
		}
		if s != 7 {
			t.Fatalf("round %d total %d, want 7", round, s)
		}
	}
	for i, x := range w {
		exact := 50 * 7 * x
		if d := float64(sums[i]) - exact; d > 1 || d < -1 {
			t.Errorf("index %d got %d over 50 rounds, exact %.1f", i, sums[i], exact)
		}
	}
}

func TestSidoShort(t *testing.T) {
	for in, want := range map[string]string{
		"서울특별시": "서울", "부산광역시": "부산", "세종특별자치시": "세종", "경기도": "경기", "강원도": "강원",
		"충청북도": "충북", "충청남도": "충남", "전라북도": "전북", "전라남도": "전남", "경상북도": "경북", "경상남도": "경남",
		"제주특별자치도": "제주",
	} {
		if got := sidoShort(in); got != want {
			t.Errorf("sidoShort(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{"종로구": "종로", "수원시 장안구": "수원", "중구": "", "가평군": "가평", "세종시": "세종"} {
		if got := districtShort(in); got != want {
			t.Errorf("districtShort(%s) = %q, want %q", in, got, want)
		}
	}
}

func newTestGenerator(t testing.TB) *Generator {
	t.Helper()
	c, err := campaign.Load("kr-2021-18-49")
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGenerator(DefaultConfig(), c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
