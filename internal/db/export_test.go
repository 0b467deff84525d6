package db

import (
	"context"

	"github.com/pressly/goose/v3"
)

// MigrateTo applies, or rolls back, migrations until the schema at url is
// at version.
func MigrateTo(ctx context.Context, url string, version int64) error {
	return withProvider(url, func(p *goose.Provider) error {
		current, err := p.GetDBVersion(ctx)
		if err != nil {
			return err
		}
		if current < version {
			_, err = p.UpTo(ctx, version)
		} else {
			_, err = p.DownTo(ctx, version)
		}
		return err
	})
}
