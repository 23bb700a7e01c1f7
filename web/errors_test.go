package web

import (
	"errors"

	"vaxbook"
)

func asError(err error, target **vaxbook.Error) bool { return errors.As(err, target) }
