package datagen

import "strconv"

// City names in the style of the reference data ("Ramirezstad",
// "Gregoryview"): a surname and a place suffix, with a compass or size prefix
// for the rarer ones.
var (
	surnames = []string{
		"Adams", "Allen", "Anderson", "Bailey", "Baker", "Barnes", "Bell", "Bennett", "Brooks", "Brown",
		"Butler", "Campbell", "Carter", "Clark", "Collins", "Cook", "Cooper", "Cox", "Davis", "Diaz",
		"Edwards", "Evans", "Fisher", "Flores", "Foster", "Garcia", "Gomez", "Gonzalez", "Gray", "Green",
		"Gregory", "Griffin", "Hall", "Harris", "Hayes", "Henderson", "Hernandez", "Hill", "Howard", "Hughes",
		"Jackson", "James", "Jenkins", "Johnson", "Jones", "Kelly", "King", "Lee", "Lewis", "Long",
		"Lopez", "Martin", "Martinez", "Miller", "Mitchell", "Moore", "Morgan", "Morris", "Murphy", "Myers",
		"Nelson", "Nguyen", "Ortiz", "Parker", "Perez", "Perry", "Peterson", "Phillips", "Powell", "Price",
		"Ramirez", "Reed", "Reyes", "Richardson", "Rivera", "Roberts", "Robinson", "Rodriguez", "Rogers", "Ross",
		"Russell", "Sanchez", "Sanders", "Scott", "Simmons", "Smith", "Stewart", "Sullivan", "Taylor", "Thomas",
		"Thompson", "Torres", "Turner", "Walker", "Ward", "Watson", "White", "Williams", "Wilson", "Wood",
	}
	suffixes = []string{
		"stad", "view", "burgh", "ton", "ville", "port", "side", "mouth", "fort", "haven",
		"land", "chester", "berg", "shire", "furt", "bury", "borough", "town", "field", "bridge",
	}
	prefixes = []string{"", "North ", "South ", "East ", "West ", "New ", "Lake ", "Port ", "Upper ", "Lower "}
)

// cityName returns the k-th city name; distinct k give distinct names.
func cityName(k int64) string {
	n := int64(len(surnames) * len(suffixes))
	base := surnames[k%int64(len(surnames))] + suffixes[(k/int64(len(surnames)))%int64(len(suffixes))]
	rest := k / n
	p := rest % int64(len(prefixes))
	name := prefixes[p] + base
	if round := rest / int64(len(prefixes)); round > 0 {
		// Past 20,000 names: number them, as in "Smithton 3".
		name += " " + strconv.FormatInt(round+1, 10)
	}
	return name
}
