package flexml

import (
	"reflect"
	"strings"
	"testing"
)

// Check returns the warnings of a document that also has errors, which
// Parse leaves out, and both lists in document order.
func TestCheckReturnsErrorsAndWarnings(t *testing.T) {
	in := resp(
		`  <Hangup/>`,
		`  <Pause length="x"/>`,
		`  <Foo/>`,
	)
	errs, warns := Check("t.xml", []byte(in))
	wantErrs := []string{
		`t.xml:3:3: <Pause>: invalid length "x": want a number of seconds, 0 or more, such as 2 or 1.5`,
		`t.xml:4:3: <Foo>: unknown verb <Foo>`,
	}
	wantWarns := []string{
		`t.xml:3:3: <Pause>: unreachable: follows <Hangup> at 2:3`,
	}
	if got := errStrings(errs); !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("errors:\n%s", strings.Join(got, "\n"))
	}
	if got := errStrings(warns); !reflect.DeepEqual(got, wantWarns) {
		t.Errorf("warnings:\n%s", strings.Join(got, "\n"))
	}
	if _, err := Parse("t.xml", []byte(in)); err == nil || len(err.(ErrorList)) != 2 {
		t.Errorf("Parse: %v", err)
	}
	errs, warns = Check("t.xml", []byte(resp(`  <Pause length="1"/>`)))
	if len(errs) != 0 || len(warns) != 0 {
		t.Errorf("good document: %v %v", errs, warns)
	}
}
