package controllers

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haul-dev/haul/internal/kubetest"
	"github.com/haul-dev/haul/internal/testutil"
)

// TestMetricsNeedAuthorization: with SecureMetrics the controller's
// /metrics answers over HTTPS, and only to a caller the API server
// authenticates and allows to get /metrics: no token is 401, a service
// account without the grant 403, one with it 200.
func TestMetricsNeedAuthorization(t *testing.T) {
	cfg := kubetest.Start(t, "../config/crd/bases")
	addr := testutil.FreeAddr(t)
	mgr, err := NewManager(cfg, ManagerOptions{MetricsAddr: addr, SecureMetrics: true, ProbeAddr: "0",
		SkipNameValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Background(t, "manager", mgr.Start)

	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := kubetest.Client(t, cfg)
	const ns = "default"
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "scraper", Namespace: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "stranger", Namespace: ns}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scraper-reads-metrics"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: ns}}},
	} {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	token := func(account string) string {
		tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), account, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	// The certificate is self-signed: the scraper trusts the address.
	httpc := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test's own server
	get := func(bearer string) (int, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+addr+"/metrics", nil)
		if err != nil {
			return 0, err
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var getErr error
	if wait.PollUntilContextTimeout(t.Context(), pollInterval, waitTimeout, true, func(context.Context) (bool, error) {
		_, getErr = get("")
		return getErr == nil, nil
	}) != nil {
		t.Fatalf("no HTTPS metrics server on %s: %v", addr, getErr)
	}
	for _, c := range []struct {
		who, token string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"an account without the grant", token("stranger"), http.StatusForbidden},
		{"an account allowed to get /metrics", token("scraper"), http.StatusOK},
	} {
		if got, err := get(c.token); err != nil || got != c.want {
			t.Errorf("%s: %d, %v; want %d", c.who, got, err, c.want)
		}
	}
}
