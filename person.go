package vaxbook

import "context"

// Nationality of a person in the registry.
type Nationality string

// Nationalities.
const (
	National        Nationality = "KR"      // Korean national
	RegisteredAlien Nationality = "FOREIGN" // registered foreign resident
)

// Person is a registry entry. The stable identifier that identity providers
// return (in Korea the CI) is never stored: only its HMAC blind index CIHash.
// Name and phone are stored sealed (AEAD, see package pii) and are opened only
// to be shown to the person themself.
type Person struct {
	ID          int64       // registry id; also the devidp login_hint
	CIHash      []byte      // HMAC-SHA256 blind index of the provider's stable identifier
	BirthDate   Date        //
	Nationality Nationality //
	Sigungu     string      // home 시군구 code (KOSTAT, 5 digits)
	NameSealed  []byte      // AEAD ciphertext of the name
	PhoneSealed []byte      // AEAD ciphertext of the phone number
}

// Registry finds people. A person that is not there is an *Error with
// CodeNotInRegistry (by CI hash) or CodeNotFound (by id).
type Registry interface {
	PersonByCIHash(ctx context.Context, ciHash []byte) (Person, error)
	PersonByID(ctx context.Context, id int64) (Person, error)
}
