package ec2local

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzQuery feeds the fake EC2 endpoint's query parser arbitrary form
// bodies: it answers 200 or an EC2 error, and never panics.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"Action=DescribeImages&Version=2016-11-15&ImageId.1=ami-1&Filter.1.Name=name&Filter.1.Value.1=golden-*",
		"Action=CopyImage&SourceImageId=ami-1&SourceRegion=us-east-1&Name=x&TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v",
		"Action=ModifyImageAttribute&ImageId=ami-1&LaunchPermission.Add.1.UserId=123456789012",
		"Action=CreateTags&ResourceId.999999999=ami-1&Tag.-1.Key=x",
		"%zz=&&&",
	} {
		f.Add(s)
	}
	s := New()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code < 400 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
