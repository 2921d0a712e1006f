//! User impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the `Impersonate-*`
//! headers replace the requester's identity after the requester is allowed the
//! `impersonate` verb on each impersonated user, service account, group, uid and extra,
//! as kube-apiserver's impersonation filter does.

use std::collections::BTreeMap;

use super::{Attributes, Authorizer, Decision, UserInfo, names};

pub const USER_HEADER: &str = "impersonate-user";
pub const UID_HEADER: &str = "impersonate-uid";
pub const GROUP_HEADER: &str = "impersonate-group";
pub const EXTRA_HEADER_PREFIX: &str = "impersonate-extra-";

/// What the impersonation headers asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub user: Option<String>,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// 400: groups, uid or extra without a user.
    BadRequest(String),
    /// 403: kube-apiserver's message.
    Forbidden(String),
}

impl Request {
    /// Reads the headers (names compared case-insensitively, values as given); `None`
    /// when the request impersonates nobody.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Option<Request>, Error> {
        let mut r = Request::default();
        let mut any = false;
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if name == USER_HEADER {
                r.user = Some(value.to_string());
            } else if name == UID_HEADER {
                r.uid = Some(value.to_string());
            } else if name == GROUP_HEADER {
                r.groups.push(value.to_string());
            } else if let Some(key) = name.strip_prefix(EXTRA_HEADER_PREFIX) {
                // Extra keys travel percent-encoded (they may hold `/`), lower-cased.
                let key = percent_decode(key);
                r.extra.entry(key).or_default().push(value.to_string());
            } else {
                continue;
            }
            any = true;
        }
        if !any {
            return Ok(None);
        }
        if r.user.as_deref().is_none_or(str::is_empty) {
            let mut asked = Vec::new();
            asked.extend(r.groups.iter().map(|g| format!("group {g}")));
            asked.extend(r.uid.iter().map(|u| format!("uid {u}")));
            asked.extend(r.extra.keys().map(|k| format!("extra {k}")));
            return Err(Error::BadRequest(format!(
                "requested [{}] without impersonating a user",
                asked.join(" ")
            )));
        }
        Ok(Some(r))
    }

    /// Checks every impersonated attribute against `authorizer` for `requester` and
    /// returns the identity the request then runs as.
    pub fn apply(
        &self,
        requester: &UserInfo,
        authorizer: &dyn Authorizer,
    ) -> Result<UserInfo, Error> {
        let user = self.user.clone().unwrap_or_default();
        let check = |group: &str, resource: &str, sub: &str, ns: &str, name: &str| {
            let attrs = Attributes {
                subresource: sub,
                ..Attributes::resource(requester, "impersonate", group, resource, ns, name)
            };
            match authorizer.authorize(&attrs) {
                Decision::Allow(_) => Ok(()),
                Decision::Deny(_) | Decision::NoOpinion(_) => {
                    let mut what = format!(
                        "User {:?} cannot impersonate resource {:?} in API group {:?}",
                        requester.username,
                        if sub.is_empty() {
                            resource.to_string()
                        } else {
                            format!("{resource}/{sub}")
                        },
                        group
                    );
                    if ns.is_empty() {
                        what.push_str(" at the cluster scope");
                    } else {
                        what.push_str(&format!(" in the namespace {ns:?}"));
                    }
                    let gr = if group.is_empty() {
                        resource.to_string()
                    } else {
                        format!("{resource}.{group}")
                    };
                    Err(Error::Forbidden(format!(
                        "{gr} {name:?} is forbidden: {what}"
                    )))
                }
            }
        };
        let mut groups = Vec::new();
        match service_account(&user) {
            Some((ns, name)) => {
                check("", "serviceaccounts", "", ns, name)?;
                groups.push(names::ALL_SERVICE_ACCOUNTS.to_string());
                groups.push(format!("{}{ns}", names::SERVICE_ACCOUNT_GROUP_PREFIX));
            }
            None => check("", "users", "", "", &user)?,
        }
        for g in &self.groups {
            check("", "groups", "", "", g)?;
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        if let Some(uid) = &self.uid {
            check("authentication.k8s.io", "uids", "", "", uid)?;
        }
        for (key, values) in &self.extra {
            for v in values {
                check("authentication.k8s.io", "userextras", key, "", v)?;
            }
        }
        let out = UserInfo {
            username: user,
            uid: self.uid.clone().unwrap_or_default(),
            groups,
            extra: self.extra.clone(),
        };
        Ok(out.with_authenticated_group())
    }
}

/// `system:serviceaccount:<ns>:<name>` → (ns, name).
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(names::SERVICE_ACCOUNT_USER_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allows impersonating exactly the listed (resource, name) pairs.
    struct Only(Vec<(&'static str, &'static str)>);

    impl Authorizer for Only {
        fn authorize(&self, a: &Attributes<'_>) -> Decision {
            assert_eq!(a.verb, "impersonate");
            if self.0.iter().any(|(r, n)| *r == a.resource && *n == a.name) {
                Decision::Allow(String::new())
            } else {
                Decision::NoOpinion(String::new())
            }
        }
    }

    fn admin() -> UserInfo {
        UserInfo::new("admin", &["system:authenticated"])
    }

    #[test]
    fn no_headers_means_no_impersonation() {
        let h: Vec<(&str, &str)> = vec![("Accept", "application/json")];
        assert_eq!(Request::from_headers(h), Ok(None));
    }

    #[test]
    fn a_user_with_groups_runs_as_that_user() {
        let h = vec![
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Extra-Scopes", "view"),
        ];
        let r = Request::from_headers(h).unwrap().unwrap();
        let auth = Only(vec![
            ("users", "jane"),
            ("groups", "devs"),
            ("userextras", "view"),
        ]);
        let u = r.apply(&admin(), &auth).unwrap();
        assert_eq!(u.username, "jane");
        assert_eq!(u.groups, ["devs", "system:authenticated"]);
        assert_eq!(u.extra["scopes"], ["view"]);
    }

    #[test]
    fn a_service_account_gets_its_groups_and_is_checked_as_a_service_account() {
        let h = vec![("Impersonate-User", "system:serviceaccount:team:jane")];
        let r = Request::from_headers(h).unwrap().unwrap();
        let denied = r.apply(
            &admin(),
            &Only(vec![("users", "system:serviceaccount:team:jane")]),
        );
        assert_eq!(
            denied,
            Err(Error::Forbidden(
                "serviceaccounts \"jane\" is forbidden: User \"admin\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"team\"".into()
            ))
        );
        let u = r
            .apply(&admin(), &Only(vec![("serviceaccounts", "jane")]))
            .unwrap();
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:team",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn each_impersonated_group_needs_permission() {
        let h = vec![("Impersonate-User", "jane"), ("Impersonate-Group", "root")];
        let r = Request::from_headers(h).unwrap().unwrap();
        assert_eq!(
            r.apply(&admin(), &Only(vec![("users", "jane")])),
            Err(Error::Forbidden(
                "groups \"root\" is forbidden: User \"admin\" cannot impersonate resource \"groups\" in API group \"\" at the cluster scope".into()
            ))
        );
    }

    #[test]
    fn groups_without_a_user_are_a_bad_request() {
        let h = vec![("Impersonate-Group", "devs")];
        assert_eq!(
            Request::from_headers(h),
            Err(Error::BadRequest(
                "requested [group devs] without impersonating a user".into()
            ))
        );
    }

    #[test]
    fn extra_keys_are_percent_decoded() {
        let h = vec![
            ("Impersonate-User", "jane"),
            ("Impersonate-Extra-Example.com%2fteam", "a"),
        ];
        let r = Request::from_headers(h).unwrap().unwrap();
        assert_eq!(r.extra["example.com/team"], ["a"]);
    }
}
