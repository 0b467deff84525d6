package ingest

import "reflect"

// RejectLineType is the type a rejects file's lines are encoded from, for
// the test that holds docs/data.md to it.
var RejectLineType = reflect.TypeFor[rejectLine]()
