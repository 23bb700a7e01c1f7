// Package campaigns holds the built-in campaign files, embedded in the binary.
// Each file NAME.json is a vaxbook.Campaign whose id is NAME; package
// campaign parses, validates and loads them by name.
//
//	kr-2021-18-49         the August 2021 COVID-19 pre-booking for ages 18–49
//	kr-2021-support-fund  the September 2021 national support-fund application
//	                      (an example of another national rush run by the same rules)
package campaigns

import "embed"

// FS holds the built-in campaign files (*.json at its root). It is read-only.
//
//go:embed *.json
var FS embed.FS
