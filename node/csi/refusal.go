package main

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// refusal is an error with the gRPC code the kubelet shows beside it in the
// pod's events.
type refusal struct {
	code codes.Code
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func refusef(code codes.Code, format string, args ...any) error {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

// grpcError gives err the code its refusal carries; Internal otherwise.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	var r *refusal
	if errors.As(err, &r) {
		return status.Error(r.code, r.msg)
	}
	return status.Error(codes.Internal, err.Error())
}
