// Package v1alpha1 holds the analytics.haul.dev/v1alpha1 API: IngestionRun,
// a one-shot, immutable record of a load into Haul's database.
// +kubebuilder:object:generate=true
// +groupName=analytics.haul.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "analytics.haul.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the API's types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &IngestionRun{}, &IngestionRunList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
