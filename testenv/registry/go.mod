module github.com/pincette/aws-assume-role-operator/testenv/registry

go 1.26

require github.com/google/go-containerregistry v0.22.1
