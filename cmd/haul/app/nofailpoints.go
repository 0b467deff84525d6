//go:build !failpoints

package app

import "fmt"

// failpoint refuses $HAUL_FAILPOINTS (envFailpoints): this haul is built
// without failpoints, as shipped. A crash test that ran it would otherwise
// see no crash and could not tell why.
func failpoint(spec string) (func(string), error) {
	return nil, fmt.Errorf("%s=%q: this haul is built without failpoints (go build -tags failpoints)", envFailpoints, spec)
}
