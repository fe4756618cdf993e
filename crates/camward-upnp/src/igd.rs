//! The Internet Gateway Device's WAN connection service (UPnP IGD:2 WANIPConnection:2, with
//! WANIPConnection:1 and WANPPPConnection:1 as fall-backs; paper §4.1): the device description
//! that names its control URL, and the SOAP actions port forwarding needs.

use crate::ssdp::{self, HttpUrl};
use crate::{Error, Protocol, http, xml};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// WAN connection services camward can drive, best first.
pub const SERVICES: &[&str] = &[
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// One WAN connection service of a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Where the description was read (shown in the status).
    pub location: HttpUrl,
    /// The service type (`…:WANIPConnection:2`).
    pub service: String,
    pub control: HttpUrl,
    /// The camera's address towards the gateway (the internal client of its mappings).
    pub local: Ipv4Addr,
}

impl Gateway {
    /// Whether the service is IGD:2's, which has AddAnyPortMapping.
    pub fn is_v2(&self) -> bool {
        self.service.ends_with(":2")
    }
}

/// Picks the best WAN connection service of a device description fetched from `location`.
pub fn parse_description(doc: &str, location: &HttpUrl) -> Result<(String, HttpUrl), Error> {
    let root = xml::parse(doc)?;
    // URLBase is deprecated in UDA 1.1 but older gateways still send it.
    let base = match root.child_text("URLBase").filter(|b| !b.is_empty()) {
        Some(b) => HttpUrl::parse(b)?,
        None => location.clone(),
    };
    let services: Vec<_> = root
        .descendants()
        .into_iter()
        .filter(|e| e.name == "service")
        .filter_map(|s| Some((s.child_text("serviceType")?, s.child_text("controlURL")?)))
        .collect();
    for wanted in SERVICES {
        if let Some((st, ctl)) = services.iter().find(|(st, _)| st == wanted) {
            let control = base.join(ctl)?;
            // The control URL must be on the host that described itself (see ssdp::search).
            if control.addr.ip() != location.addr.ip() {
                return Err(Error::Protocol(format!(
                    "control URL {control} is not on the gateway {location}"
                )));
            }
            return Ok(((*st).to_owned(), control));
        }
    }
    Err(Error::Protocol(format!(
        "{location} offers no WANIPConnection or WANPPPConnection service"
    )))
}

/// Finds a gateway: SSDP search, then the first description that offers a usable service
/// (IGD:2 answers first because its search target is sent first, and :2 is preferred within a description).
pub async fn discover(to: SocketAddrV4, wait: Duration) -> Result<Gateway, Error> {
    let answers = ssdp::search(to, wait).await?;
    if answers.is_empty() {
        return Err(Error::NoGateway);
    }
    let mut last = Error::NoGateway;
    let mut best: Option<Gateway> = None;
    let mut seen = Vec::new();
    for a in answers {
        if seen.contains(&a.location) {
            continue;
        }
        seen.push(a.location.clone());
        match describe(&a.location).await {
            Ok(g) => {
                let better = best
                    .as_ref()
                    .is_none_or(|b| rank(&g.service) < rank(&b.service));
                if better {
                    best = Some(g);
                }
            }
            Err(e) => last = e,
        }
    }
    best.ok_or(last)
}

fn rank(service: &str) -> usize {
    SERVICES
        .iter()
        .position(|s| *s == service)
        .unwrap_or(usize::MAX)
}

async fn describe(location: &HttpUrl) -> Result<Gateway, Error> {
    let (r, local) = http::exchange(location, "GET", &[], "").await?;
    if r.status != 200 {
        return Err(Error::Protocol(format!(
            "{location} answered HTTP {}",
            r.status
        )));
    }
    let (service, control) = parse_description(&r.body, location)?;
    let IpAddr::V4(local) = local else {
        return Err(Error::Protocol(
            "no IPv4 address towards the gateway".into(),
        ));
    };
    Ok(Gateway {
        location: location.clone(),
        service,
        control,
        local,
    })
}

/// The SOAP request body for `action` of `service` with `args` (values escaped).
pub fn soap_request(service: &str, action: &str, args: &[(&str, String)]) -> String {
    let mut body = format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:{action} xmlns:u=\"{}\">",
        xml::escape(service)
    );
    for (name, value) in args {
        body.push_str(&format!("<{name}>{}</{name}>", xml::escape(value)));
    }
    body.push_str(&format!("</u:{action}></s:Body></s:Envelope>\r\n"));
    body
}

/// The out-arguments of a SOAP answer, or the UPnP error it carries.
pub fn parse_soap_response(
    status: u16,
    body: &str,
    action: &str,
) -> Result<Vec<(String, String)>, Error> {
    let root = xml::parse(body)?;
    if root.name != "Envelope" {
        return Err(Error::Protocol("SOAP answer without Envelope".into()));
    }
    let b = root
        .child("Body")
        .ok_or_else(|| Error::Protocol("SOAP answer without Body".into()))?;
    if let Some(fault) = b.child("Fault") {
        let e = fault
            .child("detail")
            .and_then(|d| d.child("UPnPError"))
            .ok_or_else(|| {
                Error::Protocol(format!("SOAP fault without UPnPError (HTTP {status})"))
            })?;
        let code = e
            .child_text("errorCode")
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| Error::Protocol("UPnPError without a numeric errorCode".into()))?;
        return Err(Error::Upnp {
            code,
            description: e.child_text("errorDescription").unwrap_or("").to_owned(),
        });
    }
    if status != 200 {
        return Err(Error::Protocol(format!("{action} answered HTTP {status}")));
    }
    let want = format!("{action}Response");
    let r = b
        .child(&want)
        .ok_or_else(|| Error::Protocol(format!("SOAP answer without {want}")))?;
    Ok(r.children
        .iter()
        .map(|c| (c.name.clone(), c.text.clone()))
        .collect())
}

fn arg<'a>(args: &'a [(String, String)], name: &str) -> Result<&'a str, Error> {
    args.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| Error::Protocol(format!("answer without {name}")))
}

/// An existing mapping as GetSpecificPortMappingEntry reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub internal_client: String,
    pub internal_port: u16,
    pub description: String,
    pub lease_secs: u32,
}

impl Gateway {
    async fn call(
        &self,
        action: &str,
        args: &[(&str, String)],
    ) -> Result<Vec<(String, String)>, Error> {
        let body = soap_request(&self.service, action, args);
        let headers = [
            ("Content-Type", "text/xml; charset=\"utf-8\"".to_owned()),
            ("SOAPAction", format!("\"{}#{action}\"", self.service)),
        ];
        let (r, _) = http::exchange(&self.control, "POST", &headers, &body).await?;
        parse_soap_response(r.status, &r.body, action)
    }

    pub async fn external_address(&self) -> Result<IpAddr, Error> {
        let a = self.call("GetExternalIPAddress", &[]).await?;
        let v = arg(&a, "NewExternalIPAddress")?;
        v.parse()
            .map_err(|_| Error::Protocol(format!("external address {v:?} is not an IP address")))
    }

    fn mapping_args(
        &self,
        protocol: Protocol,
        external: u16,
        internal: u16,
        lease: u32,
        description: &str,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", external.to_string()),
            ("NewProtocol", protocol.as_str().to_owned()),
            ("NewInternalPort", internal.to_string()),
            ("NewInternalClient", self.local.to_string()),
            ("NewEnabled", "1".to_owned()),
            ("NewPortMappingDescription", description.to_owned()),
            ("NewLeaseDuration", lease.to_string()),
        ]
    }

    /// IGD:2 AddAnyPortMapping: the gateway maps `external` or, when another host holds it,
    /// a free port of its choice (never the other host's mapping); returns the port mapped.
    pub async fn add_any_port_mapping(
        &self,
        protocol: Protocol,
        external: u16,
        internal: u16,
        lease: u32,
        description: &str,
    ) -> Result<u16, Error> {
        let args = self.mapping_args(protocol, external, internal, lease, description);
        let a = self.call("AddAnyPortMapping", &args).await?;
        let v = arg(&a, "NewReservedPort")?;
        v.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| Error::Protocol(format!("reserved port {v:?} is not a port")))
    }

    /// AddPortMapping (IGD:1 and :2): maps exactly `external`; error 718 when another host holds it.
    pub async fn add_port_mapping(
        &self,
        protocol: Protocol,
        external: u16,
        internal: u16,
        lease: u32,
        description: &str,
    ) -> Result<(), Error> {
        let args = self.mapping_args(protocol, external, internal, lease, description);
        self.call("AddPortMapping", &args).await.map(|_| ())
    }

    pub async fn delete_port_mapping(
        &self,
        protocol: Protocol,
        external: u16,
    ) -> Result<(), Error> {
        let args = [
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", external.to_string()),
            ("NewProtocol", protocol.as_str().to_owned()),
        ];
        self.call("DeletePortMapping", &args).await.map(|_| ())
    }

    /// Who holds a mapping (error 714 NoSuchEntryInArray when nobody does).
    pub async fn specific_entry(&self, protocol: Protocol, external: u16) -> Result<Entry, Error> {
        let args = [
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", external.to_string()),
            ("NewProtocol", protocol.as_str().to_owned()),
        ];
        let a = self.call("GetSpecificPortMappingEntry", &args).await?;
        Ok(Entry {
            internal_client: arg(&a, "NewInternalClient")?.to_owned(),
            internal_port: arg(&a, "NewInternalPort")?.parse().unwrap_or(0),
            description: arg(&a, "NewPortMappingDescription")
                .unwrap_or("")
                .to_owned(),
            lease_secs: arg(&a, "NewLeaseDuration")?.parse().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIUPNPD_DESC: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337"><specVersion><major>1</major><minor>1</minor></specVersion><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><friendlyName>Debian router</friendlyName><serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><SCPDURL>/L3F.xml</SCPDURL><controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL></service></serviceList><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn1</controlURL></service><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service></serviceList></device></deviceList></device></deviceList></device></root>"#;

    fn loc() -> HttpUrl {
        HttpUrl::parse("http://10.77.0.1:5000/rootDesc.xml").unwrap()
    }

    #[test]
    fn description_prefers_wanipconnection_2() {
        let (st, ctl) = parse_description(MINIUPNPD_DESC, &loc()).unwrap();
        assert_eq!(st, SERVICES[0]);
        assert_eq!(ctl.to_string(), "http://10.77.0.1:5000/ctl/IPConn");
        let v1 = MINIUPNPD_DESC.replace("WANIPConnection:2", "WANIPConnection:9");
        let (st, ctl) = parse_description(&v1, &loc()).unwrap();
        assert_eq!(st, SERVICES[1]);
        assert_eq!(ctl.path, "/ctl/IPConn1");
    }

    #[test]
    fn description_without_wan_service_or_pointing_elsewhere_is_refused() {
        let none = MINIUPNPD_DESC.replace("WANIPConnection", "WANCommonInterfaceConfig");
        assert!(parse_description(&none, &loc()).is_err());
        let elsewhere = MINIUPNPD_DESC.replace("/ctl/IPConn<", "http://192.0.2.9:80/ctl<");
        assert!(parse_description(&elsewhere, &loc()).is_err());
    }

    /// The transcripts captured from miniupnpd 2.3.1 (Debian) that seed the fuzz targets.
    #[test]
    fn real_miniupnpd_transcripts_parse() {
        let answer = |raw: &str| {
            crate::http::parse_response(raw.as_bytes(), true)
                .unwrap()
                .unwrap()
        };
        let desc = answer(include_str!(
            "../fuzz/seeds/igd_answer/miniupnpd-rootDesc.http"
        ));
        let (st, ctl) = parse_description(&desc.body, &loc()).unwrap();
        assert_eq!(st, SERVICES[0]);
        assert_eq!(ctl.path, "/ctl/IPConn");
        let r = answer(include_str!(
            "../fuzz/seeds/igd_answer/miniupnpd-addany.http"
        ));
        let a = parse_soap_response(r.status, &r.body, "AddAnyPortMapping").unwrap();
        assert_eq!(arg(&a, "NewReservedPort").unwrap(), "8444");
        let r = answer(include_str!(
            "../fuzz/seeds/igd_answer/miniupnpd-add-718.http"
        ));
        assert!(matches!(
            parse_soap_response(r.status, &r.body, "AddPortMapping"),
            Err(Error::Upnp { code: 718, .. })
        ));
        // miniupnpd 2.3.1 answers success, not 714, for an entry that does not exist.
        let r = answer(include_str!(
            "../fuzz/seeds/igd_answer/miniupnpd-delete-absent.http"
        ));
        assert!(parse_soap_response(r.status, &r.body, "DeletePortMapping").is_ok());
        let r = answer(include_str!(
            "../fuzz/seeds/igd_answer/miniupnpd-entry.http"
        ));
        let a = parse_soap_response(r.status, &r.body, "GetSpecificPortMappingEntry").unwrap();
        assert_eq!(arg(&a, "NewInternalClient").unwrap(), "10.77.0.3");
        let r = answer(include_str!(
            "../fuzz/seeds/igd_answer/miniupnpd-extip.http"
        ));
        let a = parse_soap_response(r.status, &r.body, "GetExternalIPAddress").unwrap();
        assert_eq!(arg(&a, "NewExternalIPAddress").unwrap(), "198.20.19.1");
        let s = crate::ssdp::parse_response(include_bytes!(
            "../fuzz/seeds/ssdp_answer/miniupnpd-0.txt"
        ))
        .unwrap();
        assert_eq!(s.location.path, "/rootDesc.xml");
    }

    #[test]
    fn soap_request_escapes_values() {
        let b = soap_request(
            SERVICES[0],
            "AddPortMapping",
            &[("NewPortMappingDescription", "a<b&".into())],
        );
        assert!(b.contains("<NewPortMappingDescription>a&lt;b&amp;</NewPortMappingDescription>"));
        assert!(b.contains(
            "<u:AddPortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\">"
        ));
        let parsed = xml::parse(&b).unwrap();
        assert_eq!(parsed.name, "Envelope");
    }

    #[test]
    fn soap_answers_and_faults_parse() {
        let ok = r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:AddAnyPortMappingResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><NewReservedPort>8444</NewReservedPort></u:AddAnyPortMappingResponse></s:Body></s:Envelope>"#;
        let a = parse_soap_response(200, ok, "AddAnyPortMapping").unwrap();
        assert_eq!(arg(&a, "NewReservedPort").unwrap(), "8444");
        assert!(parse_soap_response(200, ok, "AddPortMapping").is_err());
        let fault = r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"#;
        match parse_soap_response(500, fault, "AddPortMapping") {
            Err(Error::Upnp {
                code: 718,
                description,
            }) => assert_eq!(description, "ConflictInMappingEntry"),
            other => panic!("{other:?}"),
        }
        assert!(parse_soap_response(500, "<a/>", "X").is_err());
    }
}
