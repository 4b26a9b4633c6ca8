package template

import (
	"fmt"
	"testing"
)

// exprTemplate puts one expression in DeviceConfiguration.out so that each intrinsic can
// be tested on its own.
const exprTemplate = `{
  "Parameters": {
    "A": {"Type": "String"},
    "B": {"Type": "String", "Default": "b"},
    "K": {"Type": "String", "Default": "k2"},
    "N": {"Type": "Number", "Default": 1},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Mappings": {"M": {"k1": {"s": "v1", "l": ["x", "y"], "n": 7}, "k2": {"s": "v2"}}},
  "Resources": {},
  "DeviceConfiguration": {"out": %s}
}`

var exprInput = Input{
	Parameters:  map[string]string{"A": "a-1,a-2"},
	Certificate: CertificateInfo{ID: "cid", CommonName: "cn"},
}

func evalExpr(expr string, in Input) (string, error) {
	tpl, err := Parse("expr.json", fmt.Appendf(nil, exprTemplate, expr))
	if err != nil {
		return "", err
	}
	r, err := tpl.Evaluate(in)
	if err != nil {
		return "", err
	}
	return r.DeviceConfiguration["out"], nil
}

func TestIntrinsicsGood(t *testing.T) {
	tests := []struct{ name, expr, want string }{
		{"string", `"lit"`, "lit"},
		{"number", `42.50`, "42.50"},
		{"boolean", `true`, "true"},
		{"Ref", `{"Ref": "A"}`, "a-1,a-2"},
		{"Ref default", `{"Ref": "B"}`, "b"},
		{"Ref number default", `{"Ref": "N"}`, "1"},
		{"Ref certificate id", `{"Ref": "AWS::IoT::Certificate::Id"}`, "cid"},
		{"Ref undeclared certificate field", `{"Ref": "AWS::IoT::Certificate::CommonName"}`, "cn"},
		{"Join", `{"Fn::Join": ["-", ["x", {"Ref": "B"}, 3]]}`, "x-b-3"},
		{"Join empty", `{"Fn::Join": [",", []]}`, ""},
		{"Join Split", `{"Fn::Join": ["|", {"Fn::Split": [",", {"Ref": "A"}]}]}`, "a-1|a-2"},
		{"Join mapping list", `{"Fn::Join": ["+", {"Fn::FindInMap": ["M", "k1", "l"]}]}`, "x+y"},
		{"Select number", `{"Fn::Select": [1, ["x", "y", "z"]]}`, "y"},
		{"Select string index", `{"Fn::Select": ["0", ["x", "y"]]}`, "x"},
		{"Select Ref index", `{"Fn::Select": [{"Ref": "N"}, ["x", "y"]]}`, "y"},
		{"Select Split", `{"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "A"}]}]}`, "a-2"},
		{"Select Split Sub", `{"Fn::Select": [0, {"Fn::Split": ["/", {"Fn::Sub": "${B}/q"}]}]}`, "b"},
		{"Split empty source", `{"Fn::Join": ["|", {"Fn::Split": [",", ""]}]}`, ""},
		{"Split no delimiter found", `{"Fn::Join": ["|", {"Fn::Split": [";", "a,b"]}]}`, "a,b"},
		{"FindInMap", `{"Fn::FindInMap": ["M", "k1", "s"]}`, "v1"},
		{"FindInMap number", `{"Fn::FindInMap": ["M", "k1", "n"]}`, "7"},
		{"FindInMap Ref key", `{"Fn::FindInMap": ["M", {"Ref": "K"}, "s"]}`, "v2"},
		{"Sub params", `{"Fn::Sub": "x-${A}-${B}"}`, "x-a-1,a-2-b"},
		{"Sub certificate", `{"Fn::Sub": "id=${AWS::IoT::Certificate::Id}"}`, "id=cid"},
		{"Sub literal", `{"Fn::Sub": "${!Literal} ${!A} $x {A}"}`, "${Literal} ${A} $x {A}"},
		{"Sub variables", `{"Fn::Sub": ["${x}/${B}/${y}", {"x": {"Ref": "A"}, "y": "why"}]}`, "a-1,a-2/b/why"},
		{"Sub variable hides parameter", `{"Fn::Sub": ["${B}", {"B": "local"}]}`, "local"},
		{"Sub no variables", `{"Fn::Sub": "plain"}`, "plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evalExpr(tc.expr, exprInput)
			if err != nil {
				t.Fatalf("%s: %v", tc.expr, err)
			}
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestIntrinsicsRefusedAtParse(t *testing.T) {
	const out = "DeviceConfiguration.out"
	tests := []struct{ name, expr, path, msg string }{
		{"Ref unknown", `{"Ref": "Nope"}`, out + ".Ref", `"Nope" is not a parameter`},
		{"Ref unknown AWS", `{"Ref": "AWS::IoT::Certificate::Nope"}`, out + ".Ref", "not a parameter"},
		{"Ref resource", `{"Ref": "thing"}`, out + ".Ref", "not a parameter"},
		{"Ref not a string", `{"Ref": 3}`, out + ".Ref", "expected a parameter name"},
		{"Ref extra key", `{"Ref": "A", "x": 1}`, out, "Ref must be the only key"},
		{"Join one argument", `{"Fn::Join": ["-"]}`, out + ".Fn::Join", "list of 2 arguments, found a list of 1"},
		{"Join delimiter", `{"Fn::Join": [1, ["x"]]}`, out + ".Fn::Join[0]", "delimiter must be a string"},
		{"Join not a list", `{"Fn::Join": ["-", "x"]}`, out + ".Fn::Join[1]", "expected a list, found a string"},
		{"Join nested list", `{"Fn::Join": ["-", [["x"]]]}`, out + ".Fn::Join[1][0]", "expected a string, found a list"},
		{"Join of Ref", `{"Fn::Join": ["-", {"Ref": "A"}]}`, out + ".Fn::Join[1]", "Ref gives a string where a list is expected"},
		{"Select word index", `{"Fn::Select": ["x", ["a"]]}`, out + ".Fn::Select[0]", "non-negative integer"},
		{"Select negative", `{"Fn::Select": [-1, ["a"]]}`, out + ".Fn::Select[0]", "non-negative integer"},
		{"Select fraction", `{"Fn::Select": [1.5, ["a", "b"]]}`, out + ".Fn::Select[0]", "non-negative integer"},
		{"Select boolean", `{"Fn::Select": [true, ["a"]]}`, out + ".Fn::Select[0]", "found a boolean"},
		{"Select not a list", `{"Fn::Select": [0, "a"]}`, out + ".Fn::Select[1]", "expected a list"},
		{"Select three arguments", `{"Fn::Select": [0, ["a"], 1]}`, out + ".Fn::Select", "list of 2"},
		{"Split empty delimiter", `{"Fn::Select": [0, {"Fn::Split": ["", "a"]}]}`, out + ".Fn::Select[1].Fn::Split[0]", "non-empty string"},
		{"Split list source", `{"Fn::Select": [0, {"Fn::Split": [",", ["a"]]}]}`, out + ".Fn::Select[1].Fn::Split[1]", "expected a string"},
		{"Split as a string", `{"Fn::Split": [",", "a,b"]}`, out, "Fn::Split gives a list where a string is expected"},
		{"FindInMap no map", `{"Fn::FindInMap": ["Nope", "k1", "s"]}`, out + ".Fn::FindInMap[0]", `no mapping named "Nope"`},
		{"FindInMap no top key", `{"Fn::FindInMap": ["M", "k9", "s"]}`, out + ".Fn::FindInMap[1]", `no key "k9"`},
		{"FindInMap no second key", `{"Fn::FindInMap": ["M", "k1", "zz"]}`, out + ".Fn::FindInMap[2]", `no key "zz"`},
		{"FindInMap two arguments", `{"Fn::FindInMap": ["M", "k1"]}`, out + ".Fn::FindInMap", "list of 3"},
		{"Sub unknown variable", `{"Fn::Sub": "x${Nope}"}`, out + ".Fn::Sub", `"Nope" is not a parameter`},
		{"Sub attribute", `{"Fn::Sub": "${thing.Arn}"}`, out + ".Fn::Sub", "Fn::GetAtt is not supported"},
		{"Sub unterminated", `{"Fn::Sub": "x${A"}`, out + ".Fn::Sub", "unterminated"},
		{"Sub empty variable", `{"Fn::Sub": "${}"}`, out + ".Fn::Sub", "empty variable"},
		{"Sub bad string", `{"Fn::Sub": [1, {}]}`, out + ".Fn::Sub[0]", "expected a string"},
		{"Sub bad variables", `{"Fn::Sub": ["x", "y"]}`, out + ".Fn::Sub[1]", "object of variables"},
		{"Sub bad variable value", `{"Fn::Sub": ["${v}", {"v": ["a"]}]}`, out + ".Fn::Sub[1].v", "found a list"},
		{"Sub number", `{"Fn::Sub": 3}`, out + ".Fn::Sub", "expected a string or a list"},
		{"Fn::If", `{"Fn::If": ["c", "a", "b"]}`, out, "Fn::If is not supported"},
		{"Fn::GetAtt", `{"Fn::GetAtt": ["thing", "Arn"]}`, out, "Fn::GetAtt is not supported"},
		{"unknown Fn", `{"Fn::Base64": "x"}`, out, "Fn::Base64 is not supported"},
		{"nested unknown Fn", `{"Fn::Join": ["", [{"Fn::Equals": ["a", "b"]}]]}`, out + ".Fn::Join[1][0]", "Fn::Equals is not supported"},
		{"list", `["a"]`, out, "expected a string, found a list"},
		{"object", `{"a": "b"}`, out, "expected a string, found an object"},
		{"null", `null`, out, "expected a string, found null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalExpr(tc.expr, exprInput)
			assertParseError(t, err, "expr.json", tc.path, tc.msg)
		})
	}
}

func TestIntrinsicsEvalErrors(t *testing.T) {
	const out = "DeviceConfiguration.out"
	tests := []struct {
		name, expr string
		params     map[string]string
		cert       CertificateInfo
		path, msg  string
	}{
		{"Select out of range", `{"Fn::Select": [5, ["x"]]}`, nil, exprInput.Certificate,
			out + ".Fn::Select", "index 5 is out of range for a list of 1"},
		{"Select out of range of Split", `{"Fn::Select": ["2", {"Fn::Split": [",", {"Ref": "A"}]}]}`, nil, exprInput.Certificate,
			out + ".Fn::Select", "index 2 is out of range for a list of 2"},
		{"Select index from a word", `{"Fn::Select": [{"Ref": "A"}, ["x"]]}`, nil, exprInput.Certificate,
			out + ".Fn::Select[0]", "non-negative integer"},
		{"FindInMap key from parameter", `{"Fn::FindInMap": ["M", {"Ref": "A"}, "s"]}`, nil, exprInput.Certificate,
			out + ".Fn::FindInMap[1]", `no key "a-1,a-2"`},
		{"FindInMap name from parameter", `{"Fn::FindInMap": [{"Ref": "A"}, "k1", "s"]}`, nil, exprInput.Certificate,
			out + ".Fn::FindInMap[0]", `no mapping named "a-1,a-2"`},
		{"FindInMap second key after a parameter", `{"Fn::FindInMap": ["M", {"Ref": "K"}, "l"]}`, nil, exprInput.Certificate,
			out + ".Fn::FindInMap[2]", `mapping "M"."k2" has no key "l"`},
		{"FindInMap list as a string", `{"Fn::FindInMap": ["M", "k1", "l"]}`, nil, exprInput.Certificate,
			out, "expected a string, found a list"},
		{"Join of a mapping string", `{"Fn::Join": ["-", {"Fn::FindInMap": ["M", "k1", "s"]}]}`, nil, exprInput.Certificate,
			out + ".Fn::Join[1]", "expected a list, found a string"},
		{"certificate field missing", `{"Ref": "AWS::IoT::Certificate::Country"}`, nil, exprInput.Certificate,
			out + ".Ref", "AWS::IoT::Certificate::Country is not available"},
		{"certificate id missing", `{"Fn::Sub": "${AWS::IoT::Certificate::Id}"}`, nil, CertificateInfo{},
			out + ".Fn::Sub", "AWS::IoT::Certificate::Id is not available"},
		{"required parameter missing", `"x"`, map[string]string{}, exprInput.Certificate,
			"Parameters.A", "parameter A is required"},
		{"number parameter", `"x"`, map[string]string{"A": "a", "N": "one"}, exprInput.Certificate,
			"Parameters.N", `must be a number, found "one"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := tc.params
			if params == nil {
				params = exprInput.Parameters
			}
			_, err := evalExpr(tc.expr, Input{Parameters: params, Certificate: tc.cert})
			assertEvalError(t, err, tc.path, tc.msg)
		})
	}
}
