//go:build !race

package folio

const raceEnabled = false
