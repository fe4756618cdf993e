-- WS-Security UsernameToken PasswordDigest (ONVIF, paper §4.5's VMS path) is
-- Base64(SHA-1(nonce ‖ created ‖ password)): the device can only check it with the password itself,
-- not with a hash or an HA1. Sealed with the device's secrets key and bound to the account name
-- (context `camward-wsse:USERNAME`); NULL for passwords set before this column existed (those
-- accounts use HTTP Digest with ONVIF until their password is set again). docs/design/onvif.md.
ALTER TABLE account ADD COLUMN wsse_password TEXT;
