package flexml_test

import (
	"fmt"

	"github.com/callstream/callstream/flexml"
)

func ExampleParse() {
	doc, err := flexml.Parse("app.xml", []byte(`<Response>
  <Start>
    <Stream url="wss://example.com/audio" name="rec" track="both_tracks">
      <Parameter name="First Name" value="John"/>
    </Stream>
  </Start>
  <Pause length="1.5"/>
  <Hangup/>
</Response>`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range doc.Verbs {
		fmt.Println(v.Position().Line, v.VerbName())
	}
	s := doc.Verbs[0].(*flexml.Start).Streams[0]
	fmt.Println(s.URL, s.Name, s.Track, s.Parameters[0].Name+"="+s.Parameters[0].Value)
	fmt.Println(doc.Verbs[1].(*flexml.Pause).Length)

	_, err = flexml.Parse("bad.xml", []byte(`<Response>
  <Start>
    <Stream name="rec"/>
  </Start>
  <Say loop="101">Hello</Say>
</Response>`))
	fmt.Println(err)
	// Output:
	// 2 Start
	// 7 Pause
	// 8 Hangup
	// wss://example.com/audio rec both First Name=John
	// 1.5s
	// bad.xml:3:5: <Stream>: attribute "url" is required in <Start>
	// bad.xml:5:3: <Say>: invalid loop "101": want a whole number from 0 to 100 (0 = until the call ends)
}
