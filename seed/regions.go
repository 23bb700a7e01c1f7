package seed

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"vaxbook"
)

// dataFS holds the reference data; see data/README.md for sources and
// licences.
//
//go:embed data/regions.csv data/sido_population.csv data/skorea-municipalities-2018-topo.json.gz
var dataFS embed.FS

const topoFile = "skorea-municipalities-2018-topo.json.gz"

// Regions returns the 250 districts (시군구) of the KOSTAT 2018 division set
// with their 시도 and polygon centroid, ordered by sigungu code. The slice is
// the caller's.
func Regions() ([]vaxbook.Region, error) {
	r, err := loadRegions()
	return slices.Clone(r), err
}

var loadRegions = sync.OnceValues(func() ([]vaxbook.Region, error) {
	rows, err := readCSV("regions.csv", []string{"sido_code", "sido_ko", "sido_en", "sigungu_code", "sigungu_ko", "sigungu_en", "lat", "lng"})
	if err != nil {
		return nil, err
	}
	out := make([]vaxbook.Region, 0, len(rows))
	for i, r := range rows {
		lat, err1 := strconv.ParseFloat(r[6], 64)
		lng, err2 := strconv.ParseFloat(r[7], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("seed: regions.csv line %d: bad coordinates", i+2)
		}
		out = append(out, vaxbook.Region{SidoCode: r[0], SidoKo: r[1], SidoEn: r[2], SigunguCode: r[3], SigunguKo: r[4], SigunguEn: r[5], Lat: lat, Lng: lng})
	}
	slices.SortFunc(out, func(a, b vaxbook.Region) int { return strings.Compare(a.SigunguCode, b.SigunguCode) })
	return out, nil
})

// Sido is one 시도 with its resident-registration population at the end of
// 2021 (MOIS; registered foreigners not included).
type Sido struct {
	Code       string
	Ko, En     string
	Population int
}

// Sidos returns the 17 시도 ordered by code.
func Sidos() ([]Sido, error) {
	s, err := loadSidos()
	return slices.Clone(s), err
}

var loadSidos = sync.OnceValues(func() ([]Sido, error) {
	rows, err := readCSV("sido_population.csv", []string{"sido_code", "sido_ko", "sido_en", "population_2021"})
	if err != nil {
		return nil, err
	}
	out := make([]Sido, 0, len(rows))
	for i, r := range rows {
		n, err := strconv.Atoi(r[3])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("seed: sido_population.csv line %d: bad population", i+2)
		}
		out = append(out, Sido{Code: r[0], Ko: r[1], En: r[2], Population: n})
	}
	slices.SortFunc(out, func(a, b Sido) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
})

func readCSV(name string, header []string) ([][]string, error) {
	raw, err := dataFS.ReadFile("data/" + name)
	if err != nil {
		return nil, fmt.Errorf("seed: %s: %w", name, err)
	}
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = len(header)
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("seed: %s: %w", name, err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], header) {
		return nil, fmt.Errorf("seed: %s: unexpected header", name)
	}
	return rows[1:], nil
}
