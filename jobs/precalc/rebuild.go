package precalc

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/haul-dev/haul/internal/db"
)

// A full rebuild fills a copy of every rollup table (NAME_next) without
// indexes, builds the indexes by sorting, and swaps the copies in just before
// commit. Inserting tens of millions of rows one index entry at a time costs
// several times more, and deleting the old rows would leave the tables twice
// their size. Readers lock the tables before their first query (see
// db.AggregateTables), so each of them sees all old tables or all new ones;
// the swap waits for the readers of the old ones, and new readers wait for
// the commit that follows it.

const nextSuffix = "_next"

// swapLockTimeout bounds the wait for readers of the old tables.
const swapLockTimeout = "60s"

var aggTableName = regexp.MustCompile(`\b(` + strings.Join(db.AggregateTables, "|") + `)\b`)

// onNext rewrites statements to write the rollups' copies.
func onNext(stmts []string) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = aggTableName.ReplaceAllString(s, "${1}"+nextSuffix)
	}
	return out
}

func createNextSQL() []string {
	var stmts []string
	for _, t := range db.AggregateTables {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE %s (LIKE %s)`, ident(t+nextSuffix), ident(t)))
	}
	return stmts
}

const fullVehicleInfoSQL = `INSERT INTO agg_vehicle_info (vehicle_id, name, total_mileage)
SELECT vehicle_id, name, total_mileage FROM vehicles`

// indexDef is a unique constraint or an index of a rollup table.
type indexDef struct {
	table, name string
	constraint  bool
	unique      bool
	// def is the constraint's definition ("PRIMARY KEY (a, b)") or the
	// index's from USING on ("USING btree (a, b) WHERE ...").
	def string
}

const indexDefsSQL = `
SELECT t.relname, c.conname, true, pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
WHERE t.oid = ANY($1::regclass[]) AND c.contype IN ('p', 'u')
UNION ALL
SELECT t.relname, i.relname, false, pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.oid = ANY($1::regclass[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY 1, 2`

// indexDefs reads the rollup tables' keys and indexes, as the migrations
// made them, so the copies get the same.
func indexDefs(ctx context.Context, tx pgx.Tx) ([]indexDef, error) {
	rows, err := tx.Query(ctx, indexDefsSQL, db.AggregateTables)
	if err != nil {
		return nil, err
	}
	defs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (indexDef, error) {
		var d indexDef
		err := row.Scan(&d.table, &d.name, &d.constraint, &d.def)
		return d, err
	})
	if err != nil {
		return nil, err
	}
	for i, d := range defs {
		if !d.constraint {
			at := strings.Index(d.def, " USING ")
			if at < 0 {
				return nil, fmt.Errorf("index %s: unexpected definition %q", d.name, d.def)
			}
			defs[i].unique = strings.HasPrefix(d.def, "CREATE UNIQUE INDEX ")
			defs[i].def = d.def[at+1:]
		}
	}
	return defs, nil
}

// buildIndexesSQL gives the copies their keys and indexes, under temporary names.
func buildIndexesSQL(defs []indexDef) []string {
	var stmts []string
	for _, d := range defs {
		table, name := ident(d.table+nextSuffix), ident(d.name+nextSuffix)
		if d.constraint {
			stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, table, name, d.def))
		} else {
			create := "CREATE INDEX"
			if d.unique {
				create = "CREATE UNIQUE INDEX"
			}
			stmts = append(stmts, fmt.Sprintf(`%s %s ON %s %s`, create, name, table, d.def))
		}
	}
	for _, t := range db.AggregateTables {
		stmts = append(stmts, `ANALYZE `+ident(t+nextSuffix))
	}
	return stmts
}

// swapSQL replaces the rollup tables by their copies.
func swapSQL(defs []indexDef) []string {
	tables := make([]string, len(db.AggregateTables))
	for i, t := range db.AggregateTables {
		tables[i] = ident(t)
	}
	stmts := []string{
		`SET LOCAL lock_timeout = '` + swapLockTimeout + `'`,
		`LOCK TABLE ` + strings.Join(tables, ", ") + ` IN ACCESS EXCLUSIVE MODE`,
		`DROP TABLE ` + strings.Join(tables, ", "),
	}
	for _, t := range db.AggregateTables {
		stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, ident(t+nextSuffix), ident(t)))
	}
	for _, d := range defs {
		if d.constraint {
			stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s RENAME CONSTRAINT %s TO %s`,
				ident(d.table), ident(d.name+nextSuffix), ident(d.name)))
		} else {
			stmts = append(stmts, fmt.Sprintf(`ALTER INDEX %s RENAME TO %s`, ident(d.name+nextSuffix), ident(d.name)))
		}
	}
	return stmts
}
