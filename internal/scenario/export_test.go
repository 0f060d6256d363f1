package scenario

import "strings"

// APIMembersOf lists the table's members of class (the part after the
// dot), and which of them are refused, for the tests outside the package.
func APIMembersOf(class string) (members, refused []string) {
	for _, m := range apiTable {
		owner, member, _ := strings.Cut(m.Path, ".")
		if owner != class {
			continue
		}
		members = append(members, member)
		if m.Kind == apiFunction && !m.Implemented {
			refused = append(refused, member)
		}
	}
	return members, refused
}
